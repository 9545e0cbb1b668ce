"""The sessions of a corpus: the stored session records when it has any, otherwise sessions
derived on the fly from its exchanges (nothing is written; streamed, so memory holds what
threading needs, not the corpus)."""

from __future__ import annotations

from collections.abc import Iterator

from recorder.corpus import Corpus
from recorder.session import Session


def sessions_of(corpus: Corpus, *, include_tool_only: bool = True) -> Iterator[Session]:
    """Stored sessions, or derived ones when the corpus holds none."""
    stored = False
    for s in corpus.sessions():
        stored = True
        if include_tool_only or s.source.type != "tool_only":
            yield s
    if stored:
        return
    from recorder.derive import SessionStream

    for s in SessionStream(corpus.exchanges):
        if include_tool_only or s.source.type != "tool_only":
            yield s

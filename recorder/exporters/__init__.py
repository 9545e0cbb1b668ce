"""Exporters: sessions (a corpus or a run, with their verdicts) → files other tools read.

    export("otel", "runs/candidate", "spans.jsonl")   # OTLP JSON, one trace per line
    export("jsonl", "recordings/", "chat.jsonl")      # OpenAI chat JSONL

Both stream: the annotations (verdicts, imported scores) are read first and kept by session,
then each session is written as soon as it is read, so memory holds one session at a time plus
the annotations. An export never overwrites a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from recorder.annotation import Annotation
from recorder.corpus import Corpus
from recorder.errors import UsageError
from recorder.session import Session
from recorder.sessions_of import sessions_of

Writer = Callable[[Session, list[Annotation], IO[str]], None]
"""Writes one session, with its annotations, to the open text file."""


@dataclass
class ExportSummary:
    """What an export wrote."""

    path: str
    sessions: int
    annotations: int


def _writers() -> dict[str, Writer]:
    from recorder.exporters.chat_jsonl import write_session as chat
    from recorder.exporters.otel import write_session as otel

    return {"otel": otel, "jsonl": chat}


def annotations_by_session(corpus: Corpus) -> dict[str, list[Annotation]]:
    """Every annotation of the corpus (verdict files in a run or corpus folder included)."""
    out: dict[str, list[Annotation]] = {}
    for a in corpus.annotations():
        out.setdefault(a.session_id, []).append(a)
    return out


def export(kind: str, source: str | Iterable[str], out: str) -> ExportSummary:
    """Write the sessions of a corpus or run folder (and their annotations) to `out`."""
    writers = _writers()
    if kind not in writers:
        raise UsageError(f"There is no exporter named {kind!r}; choose one of "
                         f"{', '.join(writers)}.")
    if os.path.exists(out):
        raise UsageError(f"{out} already exists; give a new file name (an export never "
                         "overwrites).")
    corpus = Corpus(source)
    notes = annotations_by_session(corpus)
    sessions = written = 0
    tmp = out + ".partial"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for s in sessions_of(corpus, include_tool_only=False):
                mine = notes.get(s.id, [])
                writers[kind](s, mine, f)
                sessions += 1
                written += len(mine)
        os.replace(tmp, out)  # a reader never sees half an export under the final name
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return ExportSummary(out, sessions, written)

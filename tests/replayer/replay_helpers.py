"""Shared factories for the replayer tests: a known corpus, a small tool answerer, configs.

(A uniquely named module rather than conftest, so `from replay_helpers import ...` can never
pick up another test directory's conftest.)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from recorder.corpus import Corpus
from recorder.session import ToolResult
from replayer.config import ReplayConfig
from replayer.testing.sessions import support_corpus, write_corpus
from stubs.api import StubAnswer, ToolQuery

TURNS = [5, 8, 9]
"""Three sessions, 22 turns in all."""


class RecordedAnswerer:
    """Answers a tool call with the source session's first recorded result for that tool
    (provenance `session`), else a tool error (provenance `miss`). Enough to test the loop;
    the real stub engine has its own tests."""

    def __init__(self, corpus: Corpus) -> None:
        self.index: dict[tuple[str, str], list[str]] = defaultdict(list)
        for session in corpus.sessions():
            for m in session.messages:
                if m.role == "tool" and m.name:
                    self.index[(session.id, m.name)].append(m.text)
        self.queries: list[ToolQuery] = []

    async def answer(self, query: ToolQuery) -> StubAnswer:
        self.queries.append(query)
        found = self.index.get((query.session_id or "", query.name))
        if found:
            return StubAnswer(result=ToolResult(content=found[0]), provenance="session")
        return StubAnswer(result=ToolResult(content=f"no recording of {query.name}",
                                            is_error=True),
                          provenance="miss", diagnostics={"closest": []})

    def describe(self) -> dict[str, Any]:
        return {"profile": {"name": "none"}, "answerer": "recorded (tests)"}


def recorded_answerer(corpus: Corpus, config: ReplayConfig) -> RecordedAnswerer:
    return RecordedAnswerer(corpus)


def write_test_corpus(folder) -> str:
    """The known corpus (22 turns in three sessions) as one cassette under `folder`."""
    return write_corpus(str(folder / "corpus" / "rec.cassette"), support_corpus(TURNS))


def make_config(corpus: str, out: str, base_url: str, **kw: Any) -> ReplayConfig:
    opts: dict[str, Any] = {"corpus": [corpus], "out": out, "model": "sim-candidate",
                            "base_url": base_url, "api": "openai-chat", "concurrency": 4,
                            "max_attempts": 3}
    opts.update(kw)
    return ReplayConfig(**opts)

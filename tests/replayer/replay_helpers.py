"""Shared factories for the replayer tests: a known corpus, a small tool answerer, configs.

(A uniquely named module rather than conftest, so `from replay_helpers import ...` can never
pick up another test directory's conftest.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from recorder.corpus import Corpus
from recorder.session import ToolResult
from replayer.replay_config import ReplayConfig
from replayer.run_folder import done_keys
from replayer.testing.synthetic_sessions import support_corpus, write_corpus
from stubs.api import StubAnswer, ToolAnswerer, ToolQuery

TURNS = [5, 8, 9]
"""Three sessions, 22 turns in all."""


class RecordedAnswerer(ToolAnswerer):
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


def start_replay_script(tmp_path: Path, corpus: str, out: str, base_url: str,
                        **config: Any) -> subprocess.Popen[bytes]:
    """A separate Python process running `replay()` on the known corpus with the recorded
    answerer (for tests that kill it): `config` are `make_config` keywords."""
    script = tmp_path / "run_replay.py"
    options = ", ".join(f"{k}={v!r}" for k, v in config.items())
    script.write_text(textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from replay_helpers import make_config, recorded_answerer
        from replayer.replay import replay
        if __name__ == "__main__":
            config = make_config({corpus!r}, {out!r}, {base_url!r}, {options})
            asyncio.run(replay(config, answerer=recorded_answerer, progress_mode="off"))
    """))
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)


def wait_for_trajectories(proc: subprocess.Popen[Any], out: str, least: int) -> None:
    """Until `out` holds at least `least` trajectories, `proc` exits, or a minute passes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.isdir(out) and len(done_keys(out)) >= least:
            return
        time.sleep(0.02)

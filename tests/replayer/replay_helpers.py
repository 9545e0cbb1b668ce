"""Shared factories for the replayer tests: a known corpus, a small tool answerer, configs, and
what the wire tests share (one response read by a recording and by a replay).

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from recorder.corpus import Corpus
from recorder.protocols import parse_exchange
from recorder.session import ContentPart, Message, ToolResult
from recorder.testing import make_exchange
from replayer.clients import make_client
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


# ------------------------------------------------ the wire tests: record and replay one reply

ASK = [Message(role="user", content=[ContentPart(text="hi")])]


@dataclass(frozen=True)
class WireFormat:
    """One wire format as the tests read it on both sides."""

    url: str
    """Where its calls are recorded."""
    request: dict[str, Any]
    """The request every recorded response answers."""
    counts: Callable[[Any], dict[str, int]]
    """The format's `token_counts`: a response's usage as a replay's neutral counts."""
    stream_url: str | None = None
    """Where a streamed call goes, when the URL says it streams (Gemini); otherwise the
    request asks with `"stream": true`."""

    def recorded(self, response: dict[str, Any] | None = None,
                 chunks: list[bytes] | None = None) -> list[Message]:
        """What recording makes of a response (JSON, or SSE when `chunks`): the protocol
        parser's messages, as sessions get them; the parse must find no problem."""
        url, request = self.url, self.request
        if chunks is not None and self.stream_url is not None:
            url = self.stream_url
        elif chunks is not None:
            request = {**request, "stream": True}
        parsed = parse_exchange(make_exchange(url, request_json=request, response_json=response,
                                              chunks=chunks))
        assert parsed.llm is not None and parsed.llm.error is None, parsed.problems
        assert parsed.problems == []
        return [m.to_model() for m in parsed.llm.outputs]

    def as_replayed(self, message: Message, usage: Any) -> Message:
        """A recorded message as a replay holds it: generated, no exchange, the usage as the
        neutral counts replay accounting adds up."""
        return message.model_copy(update={"origin": "generated", "exchange_id": None,
                                          "usage": self.counts(usage)})


def pieces(text: str | None, cuts: list[int]) -> list[str]:
    """`text` cut after each of `cuts` characters in turn (nothing for no text)."""
    if not text:
        return []
    out, pos = [], 0
    for c in cuts:
        if pos + c >= len(text):
            break
        out.append(text[pos:pos + c])
        pos += c
    return [*out, text[pos:]]


def split(data: bytes, cuts: list[int], scale: int) -> list[bytes]:
    """`data` as network chunks cut after each of `cuts` × `scale` bytes in turn."""
    out, pos = [], 0
    for c in cuts:
        out.append(data[pos:pos + c * scale])
        pos += c * scale
    return [*out, data[pos:]]


async def served_reply(api: str, model: str, path: str, base: str, body: bytes) -> Message:
    """The replayer's `api` client asking a loopback server that answers `POST path` with
    the JSON `body`; `base` is what follows the server's address in the base URL."""
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post(path, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = make_client(api, model, f"http://127.0.0.1:{runner.addresses[0][1]}{base}",
                         api_key="k")
    try:
        return await client.complete(ASK)
    finally:
        await client.close()
        await runner.cleanup()

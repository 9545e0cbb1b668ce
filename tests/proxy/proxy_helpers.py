"""Test-only helpers for the proxy tests (imported as `proxy_helpers`, a name unique across
test folders); the factories tests share with benchmarks are in `proxy.testing`.

- `deploysim` as a real subprocess: `start_cli`, its banner, and for the fault suite
  `recording(...)`, a `deploysim record` run exactly as the CLI runs it (default process writer,
  default settings unless a test passes an option), so a fault here is a fault a user meets;
- upstreams that count what reached them, and the official clients in one place;
- the reading of what was recorded.

Everything binds 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from aiohttp import web

from proxy.replay.testing import McpHttpServer, sunny_server
from proxy.testing import TOOLS_ANTHROPIC, TOOLS_CHAT, TOOLS_RESPONSES, RawRequest, tap
from recorder.corpus import Corpus
from recorder.exchange import Exchange

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOYSIM = os.path.join(ROOT, ".venv", "bin", "deploysim")
PYTHON = sys.executable


def start_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `deploysim ARGS` in a subprocess (stderr captured as text)."""
    return subprocess.Popen([DEPLOYSIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def wait_banner(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """Read stderr until the startup banner (the line with 'listening on')."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "listening on" in line:
            return line
    raise AssertionError("no banner: " + "".join(lines))


def banner_url(banner: str) -> str:
    return banner.split("listening on ", 1)[1].split(";", 1)[0].strip()


def tapped_model_server(log: list[RawRequest], policy: Any) -> Any:
    """The replayer's scripted fake model server (OpenAI chat/responses and Anthropic wire
    formats, as the official SDKs expect) with every request's raw bytes logged."""
    from replayer.testing.fake_model import FakeModelServer

    class Tapped(FakeModelServer):
        def app(self) -> web.Application:
            app = super().app()
            app.middlewares.append(tap(log))
            return app

    return Tapped(policy, chunk=4)



# ------------------------------------------------------------------------ the fault suite

SUMMARY = re.compile(r"deploysim: recorded (\d+) exchange\(s\)")
"""The closing line `deploysim record` prints on stderr after a clean stop."""


# -- the gateway as a subprocess -----------------------------------------------------------


@dataclass
class Stopped:
    """How a recorder ended."""

    code: int
    seconds: float
    """From the signal to the process's exit."""
    stdout: str
    stderr: str


@dataclass
class Recorder:
    """A running `deploysim record` subprocess. stderr is drained on a thread (a chatty
    gateway must never block on a full pipe) and kept for the assertions."""

    proc: subprocess.Popen[str]
    url: str
    out: str
    banner: str
    lines: list[str] = field(default_factory=list)
    _drain: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def writer_pids(self) -> list[int]:
        """The writer processes this gateway started (children running proxy.writer_process)."""
        return children(self.pid, b"proxy.writer_process")

    async def metrics(self) -> dict[str, float]:
        """`GET /_deploysim/metrics`, parsed: 'name{labels}' → value."""
        async with httpx2.AsyncClient(trust_env=False, timeout=10) as c:
            r = await c.get(self.url + "/_deploysim/metrics")
        r.raise_for_status()
        return parse_metrics(r.text)

    async def stop(self, sig: int = signal.SIGINT, within: float = 5.0) -> Stopped:
        """Send `sig` and wait (at most 60 s) for the exit; `within` is only measured."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = await asyncio.to_thread(self.proc.wait, 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = await asyncio.to_thread(self.proc.wait, 10)
        seconds = time.monotonic() - t0
        if self._drain is not None:
            await asyncio.to_thread(self._drain.join, 10)
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()
        return Stopped(code, seconds, stdout, self.stderr)

    def kill(self) -> None:
        """SIGKILL: the gateway gets no chance to flush anything."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@asynccontextmanager
async def recording(out: str, *args: str) -> AsyncIterator[Recorder]:
    """`deploysim record ARGS --listen 127.0.0.1:0 --out OUT` until the block ends (the test
    stops it; whatever is still running at the end is killed)."""
    proc = start_cli(["record", *args, "--listen", "127.0.0.1:0", "--out", out])
    banner = await asyncio.to_thread(wait_banner, proc)
    rec = Recorder(proc, banner_url(banner), out, banner, [banner])

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            rec.lines.append(line)

    rec._drain = threading.Thread(target=drain, name="recorder-stderr", daemon=True)
    rec._drain.start()
    try:
        yield rec
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def children(parent: int, needle: bytes) -> list[int]:
    """Pids of `parent`'s children whose command line contains `needle` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        # the command name in (parentheses) may hold spaces: the fields follow the last ')'
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        if ppid == parent and needle in cmdline:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {'name{labels}': value} (comments skipped)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def deploysim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run another `deploysim` command to completion."""
    return subprocess.run([DEPLOYSIM, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


# -- what was recorded --------------------------------------------------------------------


@dataclass
class Recorded:
    """Everything a recording run left in its output folder."""

    exchanges: list[Exchange]
    ledgers: list[dict[str, Any]]
    """The closing `ledger` records, in plain form (see recorder.ledger.Ledger)."""
    problems: list[str]
    paths: list[str]

    def by_path(self, fragment: str) -> list[Exchange]:
        return [ex for ex in self.exchanges if fragment in ex.request.url]


def read_out(out: str) -> Recorded:
    """Read every cassette in `out` (exchanges typed through the corpus reader)."""
    corpus = Corpus(out)
    exchanges = list(corpus.exchanges())
    problems = [str(p) for p in corpus.problems]
    ledgers = [obj for _, obj in Corpus(out).objs() if obj.get("kind") == "ledger"]
    return Recorded(exchanges, ledgers, problems, list(corpus.paths))


def the_ledger(rec: Recorded) -> Any:
    """The run's one ledger, validated by the recorder's own model."""
    from recorder.ledger import Ledger

    assert len(rec.ledgers) == 1, f"want one ledger record, found {len(rec.ledgers)}"
    return Ledger.model_validate(rec.ledgers[0])


# -- upstreams that count what reached them ------------------------------------------------


@asynccontextmanager
async def raw_serving(app: web.Application, **site: Any) -> AsyncIterator[str]:
    """Serve `app` WITHOUT aiohttp's server-side decompression of request bodies, and with
    room for many headers, so a handler's `await request.read()` returns the very bytes on
    the wire. aiohttp's default (`auto_decompress=True` in its `RequestHandler`) would inflate
    a gzip body before the handler sees it, so a gateway that corrupted the body on the way
    could still look right; the runner's keyword arguments reach the request handler."""
    runner = web.AppRunner(app, access_log=None, auto_decompress=False, max_headers=1000,
                           max_field_size=65536)
    await runner.setup()
    s = web.TCPSite(runner, "127.0.0.1", 0, **site)
    await s.start()
    port = s._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def asgi_tap(app: Any, log: list[RawRequest]) -> Any:
    """Wrap an ASGI app so every HTTP request that reaches it is logged (method and path;
    the body is left to the app)."""

    async def tapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope["path"].encode()
            query = scope.get("query_string") or b""
            log.append(RawRequest(scope["method"], (path + (b"?" + query if query else b""))
                                  .decode(), list(scope["headers"]), b""))
        await app(scope, receive, send)

    return tapped


@asynccontextmanager
async def mcp_server(log: list[RawRequest]) -> AsyncIterator[str]:
    """A real `MCPServer` (tool `get_weather`) over streamable HTTP on uvicorn, tapped;
    yields its MCP URL. It accepts only its own Host, as by default."""
    async with McpHttpServer(sunny_server(), own_host_only=True,
                             wrap=lambda app: asgi_tap(app, log)) as server:
        yield server.url


# -- the official clients -------------------------------------------------------------------

HttpFactory = Callable[[], httpx2.AsyncClient]
"""Makes the HTTP client an SDK uses (plain, or one that honours HTTPS_PROXY)."""


async def openai_chat(base: str, http: HttpFactory, session: str, stream: bool) -> None:
    """One openai chat session: two calls, the second with the conversation so far."""
    import openai

    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-fault-suite-0123456789",
                                  max_retries=0, http_client=http()) as client:
        messages: Any = [{"role": "user", "content": f"weather in Paris? ({session})"}]
        for _ in range(2):
            kw: Any = {"model": "sim-deployed", "tools": TOOLS_CHAT, "messages": messages,
                       "extra_headers": {"X-Deploysim-Session": session}}
            if stream:
                out = await client.chat.completions.create(
                    stream=True, stream_options={"include_usage": True}, **kw)
                names = ""
                async for chunk in out:
                    for choice in chunk.choices:
                        for tc in choice.delta.tool_calls or []:
                            names += (tc.function.name or "") if tc.function else ""
                assert names == "get_weather"
            else:
                r = await client.chat.completions.create(**kw)
                assert r.choices[0].message.tool_calls
            messages = [*messages, {"role": "assistant", "content": "checking"},
                        {"role": "user", "content": "and now?"}]


async def sdk_call(api: Any, stream: bool, final: str, **kw: Any) -> Any:
    """One call through an official SDK resource (`client.responses`, `client.messages`),
    streamed and read to its end (then the stream's `final` accumulation) or not."""
    if not stream:
        return await api.create(**kw)
    async with api.stream(**kw) as s:
        async for _ in s:
            pass
        return await getattr(s, final)()


async def openai_responses(base: str, http: HttpFactory, session: str, stream: bool) -> None:
    import openai

    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-fault-suite-0123456789",
                                  max_retries=0, http_client=http()) as client:
        kw: Any = {"model": "sim-deployed", "tools": TOOLS_RESPONSES,
                   "input": f"weather in Paris? ({session})",
                   "extra_headers": {"X-Deploysim-Session": session}}
        r = await sdk_call(client.responses, stream, "get_final_response", **kw)
        assert any(o.type == "function_call" for o in r.output)


async def anthropic_messages(base: str, http: HttpFactory, session: str, stream: bool) -> None:
    import anthropic

    async with anthropic.AsyncAnthropic(base_url=base, api_key="sk-ant-fault-suite-0123",
                                        max_retries=0, http_client=http()) as client:
        kw: Any = {"model": "sim-deployed", "max_tokens": 256, "tools": TOOLS_ANTHROPIC,
                   "messages": [{"role": "user", "content": f"weather? ({session})"}],
                   "extra_headers": {"X-Deploysim-Session": session}}
        m = await sdk_call(client.messages, stream, "get_final_message", **kw)
        assert m.stop_reason == "tool_use"


async def mcp_session(url: str, http: HttpFactory, city: str) -> None:
    """The session-based protocol: initialize, the GET stream, tools, DELETE on close."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with http() as client, \
            streamable_http_client(url, http_client=client) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        assert [t.name for t in tools.tools] == ["get_weather"]
        result = await session.call_tool("get_weather", {"city": city})
        assert result.content[0].text == f"sunny in {city}"  # type: ignore[union-attr]


async def mcp_stateless(url: str, http: HttpFactory, city: str) -> None:
    """The 2026-07-28 stateless protocol of the high-level `mcp.Client`."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with http() as client, Client(streamable_http_client(url, http_client=client)) as c:
        result = await c.call_tool("get_weather", {"city": city})
        assert result.content[0].text == f"sunny in {city}"  # type: ignore[union-attr]


def plain_http() -> httpx2.AsyncClient:
    """An SDK's HTTP client that ignores proxy variables (talks to the gateway directly)."""
    return httpx2.AsyncClient(trust_env=False, timeout=30)


def env_http() -> httpx2.AsyncClient:
    """An SDK's HTTP client as users run it: HTTPS_PROXY, HTTP_PROXY and SSL_CERT_FILE
    honoured."""
    return httpx2.AsyncClient(timeout=30)


async def mixed_round(model: str, mcp: str, http: HttpFactory, tag: str) -> None:
    """One round: openai (chat and responses, streamed and not), anthropic (streamed and
    not) and mcp (session-based and stateless) sessions, all at once."""
    jobs: list[Coroutine[Any, Any, None]] = []
    for stream in (False, True):
        s = "s" if stream else "n"
        jobs += [openai_chat(model, http, f"{tag}-chat-{s}", stream),
                 openai_responses(model, http, f"{tag}-resp-{s}", stream),
                 anthropic_messages(model, http, f"{tag}-ant-{s}", stream)]
    jobs += [mcp_session(mcp, http, f"{tag}-a"), mcp_session(mcp, http, f"{tag}-b"),
             mcp_stateless(mcp, http, f"{tag}-c")]
    await asyncio.gather(*jobs)

"""The stdio MCP shim: sits between an agent and the MCP server command it would spawn.

The agent spawns `deploysim record-stdio --out DIR -- COMMAND ARGS...` instead of the server;
the shim spawns COMMAND and relays bytes both ways as they arrive (never waiting for a full
line, never changing a byte), while a line assembler on the side turns the newline-delimited
JSON-RPC messages into exchanges:

- a request (has `method` and `id`) is paired with the reply carrying the same `id` from the
  other side: request.body is the request line, response.body the reply line;
- a notification (`method`, no `id`) is recorded alone, with no response;
- messages the server sends to the client (sampling, elicitation, roots) are recorded the same
  way, labelled `direction=server_to_client`.

stdout is the protocol channel: the shim never writes anything of its own there.

A server that cannot be started (not found, not executable, not a program) ends the shim at
once with the shell's codes, 127 or 126, and one sentence on stderr: returned, not raised, so
whoever runs the shim closes its cassette and writer the ordinary way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from proxy.capture import DEFAULT_MAX_CAPTURE, Capture
from proxy.metrics import Metrics
from proxy.sink import Sink
from proxy.stdio_io import READ_SIZE, open_stdio
from runtime.tasks import spawn

CLIENT = "client_to_server"
SERVER = "server_to_client"


class LineAssembler:
    """Splits a byte stream into lines; a line over `limit` bytes is dropped (and counted)."""

    def __init__(self, limit: int = DEFAULT_MAX_CAPTURE) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._overflow = False
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            self._add(data[start:nl])
            if self._overflow:
                self.oversized += 1
            elif self._buf.strip():
                lines.append(bytes(self._buf).rstrip(b"\r"))
            self._buf.clear()
            self._overflow = False
            start = nl + 1
        self._add(data[start:])
        return lines

    def _add(self, piece: bytes) -> None:
        if self._overflow:
            return
        if len(self._buf) + len(piece) > self.limit:
            self._overflow = True
            self._buf.clear()
        else:
            self._buf += piece


@dataclass
class StdioRecorder:
    """Pairs JSON-RPC requests with their replies and hands exchanges to the sink."""

    sink: Sink | None
    metrics: Metrics
    url: str
    route: str | None = None
    session_hint: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    _pending: dict[tuple[str, str], tuple[Capture, float]] = field(default_factory=dict)

    async def message(self, line: bytes, direction: str) -> None:
        """One complete line sent in `direction` (CLIENT or SERVER)."""
        self.metrics.count_request(self.route or "stdio")
        if self.sink is None:
            return
        now = time.time()
        try:
            msg: Any = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            cap = self._capture(line, direction, now)
            cap.problems.append("not a JSON-RPC object: recorded as is")
            await self.sink.put(cap)
            return
        has_id = "id" in msg and msg["id"] is not None
        if "method" in msg:
            cap = self._capture(line, direction, now)
            if has_id:
                self._pending[(direction, _key(msg["id"]))] = (cap, time.perf_counter())
            else:
                await self.sink.put(cap)  # a notification: no response ever comes
            return
        other = SERVER if direction == CLIENT else CLIENT
        found = self._pending.pop((other, _key(msg["id"])), None) if has_id else None
        if found is None:
            cap = self._capture(line, direction, now)
            cap.problems.append("a reply that matches no request seen by the shim")
            await self.sink.put(cap)
            return
        cap, t0 = found
        cap.status = 200
        cap.response_body = line
        cap.ended_at = cap.started_at + (time.perf_counter() - t0)
        await self.sink.put(cap)

    async def finish(self, reason: str) -> None:
        """Record requests that never got a reply."""
        if self.sink is None:
            return
        for cap, t0 in self._pending.values():
            cap.error = f"no reply: {reason}"
            cap.ended_at = cap.started_at + (time.perf_counter() - t0)
            await self.sink.put(cap)
        self._pending.clear()

    def _capture(self, line: bytes, direction: str, now: float) -> Capture:
        return Capture(
            method="STDIO", url=self.url, started_at=now, request_body=line,
            transport="stdio", route=self.route, ended_at=now,
            session_hint=self.session_hint,
            labels={**self.labels, "capture": "stdio", "direction": direction},
        )


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


_LAUNCHERS = {"npx", "uvx", "pipx", "bunx", "node", "deno", "bun", "uv", "pnpm", "yarn", "npm",
              "python", "python3", "py", "docker", "podman", "env", "sh", "bash", "cmd"}
"""Programs that start the server named by a later argument (`npx -y PKG`, `uv run X`)."""
_VERBS = {"run", "exec", "dlx", "x", "tool", "-m", "-c", "/c"}
_AFFIXES = (("mcp-server-", ""), ("server-", ""), ("mcp-", ""), ("", "-mcp-server"),
            ("", "-server"), ("", "-mcp"))
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ENV_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_GENERIC = {"index", "main", "__main__", "server", "cli", "app", "dist", "build", "src", "lib",
            "bin", "out", "node_modules"}
"""Script and folder names that say nothing about the server: look one folder up."""


def default_server_name(command: list[str]) -> str:
    """The name `record-stdio` records a server under when `--name` is not given: its package
    or script, without launcher, scope, version, folders, extension and the usual `mcp` /
    `server` affixes.

    >>> default_server_name(["uvx", "mcp-server-time"])
    'time'
    >>> default_server_name(["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"])
    'filesystem'
    >>> default_server_name(["python", "-m", "weather_mcp"])
    'weather'
    >>> default_server_name(["node", "/srv/server-everything/dist/index.js", "stdio"])
    'everything'
    """
    words = [w for w in command if w]
    while words and (os.path.basename(words[0]).lower().removesuffix(".exe").rstrip("0123456789.")
                     in _LAUNCHERS or words[0] in _VERBS or words[0].startswith("-")
                     or _ENV_WORD.match(words[0])):
        words = words[1:]  # launchers, their flags and verbs, VAR=value environment words
    if not words:
        return "mcp"
    word = words[0]
    if word.startswith("@") and "/" in word:  # an npm scope: @scope/name@version
        word = word.split("/", 1)[1]
    word = re.split(r"@|==|>=|<=|~=|\[", word, maxsplit=1)[0] or word
    parts = [re.sub(r"\.(py|js|mjs|cjs|ts|exe|sh)$", "", p, flags=re.IGNORECASE)
             for p in word.replace("\\", "/").split("/") if p]
    word = next((p for p in reversed(parts) if p.lower() not in _GENERIC), parts[-1])
    name = _UNSAFE.sub("-", word.replace("_", "-")).strip(".-_").lower()
    for prefix, suffix in _AFFIXES:
        if name.startswith(prefix) and name.endswith(suffix) and \
                len(name) > len(prefix) + len(suffix):
            name = name[len(prefix):len(name) - len(suffix)]
    return name or "mcp"


async def run_shim(
    command: list[str],
    sink: Sink | None,
    metrics: Metrics,
    *,
    route: str | None = None,
    session_hint: str | None = None,
    labels: dict[str, str] | None = None,
) -> int:
    """Spawn `command`, relay stdio both ways while recording; returns the server's exit code.

    Ends when the server exits. When the agent closes our stdin, the server's stdin is closed
    too and the server is expected to exit on its own (as MCP stdio servers do).
    """
    recorder = StdioRecorder(sink, metrics, url="stdio:" + shlex.join(command), route=route,
                             session_hint=session_hint, labels=dict(labels or {}))
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=None, limit=READ_SIZE,
        )
    except OSError as exc:
        return _cannot_start(command, exc)
    assert proc.stdin is not None and proc.stdout is not None
    child_in, child_out = proc.stdin, proc.stdout
    read_agent, write_agent, close_stdio = await open_stdio()

    async def agent_to_server() -> None:
        lines = LineAssembler()
        while True:
            data = await read_agent()
            if not data:
                break
            metrics.bytes_in += len(data)
            try:
                child_in.write(data)
                await child_in.drain()
            except (BrokenPipeError, ConnectionResetError):
                break
            for line in lines.feed(data):
                await _safely(metrics, recorder.message(line, CLIENT))
        with contextlib.suppress(Exception):
            child_in.close()

    async def server_to_agent() -> None:
        lines = LineAssembler()
        while True:
            data = await child_out.read(READ_SIZE)
            if not data:
                break
            metrics.bytes_out += len(data)
            await write_agent(data)
            for line in lines.feed(data):
                await _safely(metrics, recorder.message(line, SERVER))

    upward = spawn(agent_to_server(), name="stdio-agent-to-server")
    try:
        await server_to_agent()
        code = await proc.wait()
    finally:
        upward.cancel()
        with contextlib.suppress(BaseException):
            await upward
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
        close_stdio()
        await recorder.finish("the server exited")
    return code


NOT_FOUND, NOT_EXECUTABLE = 127, 126
"""Exit codes of a command that could not be started, as a shell reports them."""


def _cannot_start(command: list[str], exc: OSError) -> int:
    sys.stderr.write(f"deploysim: error: the MCP server command {shlex.join(command[:1])} "
                     f"cannot be started ({exc.strerror or exc}); check the command after "
                     "--.\n")
    sys.stderr.flush()
    return NOT_FOUND if isinstance(exc, FileNotFoundError) else NOT_EXECUTABLE


async def _safely(metrics: Metrics, step: Awaitable[None]) -> None:
    """Recording must never stop the relay: a parsing bug costs one record."""
    try:
        await step
    except Exception as exc:
        metrics.count_record_error("stdio_parse", repr(exc))

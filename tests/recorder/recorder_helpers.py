"""Shared helpers for the recorder tests (imported as `recorder_helpers`, a name unique across
test folders): a fake upstream that speaks whatever bytes a test scripts, on 127.0.0.1 with an
ephemeral port, and records each exchange exactly as sent; a relay capturing what passes through
it; and the importer tests' fixture files (paths, broken copies, CLI runs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from deploysim.cli import run
from recorder.exchange import Exchange, HttpRequest, HttpResponse, StreamChunk


async def _serve_every_path(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, str]:
    """Serve every method and path with `handle` on 127.0.0.1:0; the runner and its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class Reply:
    """What the fake upstream answers: a JSON body, or SSE chunks written one by one."""

    json_body: Any = None
    chunks: list[bytes] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Script = Callable[[dict[str, Any]], Reply]


class FakeUpstream:
    """An aiohttp server answering every POST with `script(request_json)`; records exchanges."""

    def __init__(self) -> None:
        self.script: Script = lambda _req: Reply(json_body={})
        self.exchanges: list[Exchange] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner, self.url = await _serve_every_path(self._handle)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        t0 = time.time()
        body = await request.read()
        reply = self.script(json.loads(body) if body else {})
        req = HttpRequest(method=request.method, url=f"{self.url}{request.path_qs}",
                          headers=_raw_headers(request), body=body)
        if reply.chunks is None:
            data = json.dumps(reply.json_body).encode()
            headers = {"content-type": "application/json", **reply.headers}
            resp = web.Response(status=reply.status, body=data, headers=headers)
            self._record(req, t0, HttpResponse(status=reply.status,
                                               headers=list(headers.items()), body=data))
            return resp
        headers = {"content-type": "text/event-stream", **reply.headers}
        stream = web.StreamResponse(status=reply.status, headers=headers)
        await stream.prepare(request)
        sent = []
        for c in reply.chunks:
            await stream.write(c)
            sent.append(StreamChunk(offset_ms=round((time.time() - t0) * 1000, 3), data=c))
        await stream.write_eof()
        self._record(req, t0, HttpResponse(status=reply.status, headers=list(headers.items()),
                                           body=b"".join(reply.chunks), chunks=sent))
        return stream

    def _record(self, req: HttpRequest, t0: float, resp: HttpResponse) -> None:
        self.exchanges.append(Exchange(id=f"ex-{len(self.exchanges) + 1}", started_at=t0,
                                       ended_at=time.time(), request=req, response=resp))


def _raw_headers(request: web.Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]


class CapturingRelay:
    """A pass-through HTTP relay that records every exchange (request, streamed reply chunks)
    the way the recording proxy does; used to capture real MCP client/server traffic."""

    def __init__(self, upstream: str, route: str | None = None) -> None:
        self.upstream = upstream
        self.route = route
        self.exchanges: list[Exchange] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def start(self) -> None:
        self._session = ClientSession(auto_decompress=False)
        self._runner, self.url = await _serve_every_path(self._handle)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        t0 = time.time()
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length")}
        url = self.upstream + request.path_qs
        async with self._session.request(request.method, url, headers=headers,
                                         data=body) as up:
            resp = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding"):
                    resp.headers[k] = v
            await resp.prepare(request)
            chunks = []
            async for data in up.content.iter_any():
                chunks.append(StreamChunk(offset_ms=round((time.time() - t0) * 1000, 3),
                                          data=data))
                await resp.write(data)
            await resp.write_eof()
            streamed = "text/event-stream" in up.headers.get("content-type", "")
            self.exchanges.append(Exchange(
                id=f"relay-{len(self.exchanges) + 1}", route=self.route, started_at=t0,
                ended_at=time.time(),
                request=HttpRequest(method=request.method, url=url,
                                    headers=_raw_headers(request), body=body),
                response=HttpResponse(status=up.status, reason=up.reason or "",
                                      headers=[(k, v) for k, v in up.headers.items()],
                                      body=b"".join(c.data for c in chunks),
                                      chunks=chunks if streamed else None)))
            return resp


# ------------------------------------------------------------- the importer tests' fixtures

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def broken_copy(tmp_path: Path, name: str, line: int) -> str:
    """The fixture with line `line` (1-based) cut in half: malformed JSON there."""
    lines = (FIXTURES / name).read_text().splitlines()
    lines[line - 1] = lines[line - 1][: len(lines[line - 1]) // 2]
    out = tmp_path / f"broken-{name}"
    out.write_text("\n".join(lines) + "\n")
    return str(out)


def cli_import(kind: str, *args: str) -> int:
    return run(["import", kind, *args])

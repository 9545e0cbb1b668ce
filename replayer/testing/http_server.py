"""A small HTTP/1.1 server on asyncio's protocol layer: the fake model server's transport.

The fake model plays a remote endpoint, whose CPU would not be on the replaying machine; in a
benchmark it shares the machine with the replayer, so what it costs per request is taken from
what is being measured. aiohttp's server spends about 0.45 ms of CPU on a request here; this
one — request line, headers, a `Content-Length` or chunked body, keep-alive and pipelining,
replies with a length or chunked (server-sent events) — about 0.3 ms (with the fake model's
own work; docs/performance/replay.md). It serves what HTTP
clients send (the official SDKs over httpx2, aiohttp, deploysim's gateway relaying them);
anything it cannot read gets a 400 and the connection closed.

>>> async def handle(request: Request) -> Response | StreamResponse | None:
...     return Response(200, b'{"ok":true}', content_type="application/json")
>>> server = HttpServer(handle)                                     # doctest: +SKIP
>>> port = await server.start("127.0.0.1", 0)                         # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
"""Largest request line plus headers accepted (431 beyond)."""


@dataclass
class Request:
    """One request as the handler sees it."""

    method: str
    path: str
    """The target's path (without the query)."""
    query: str
    headers: dict[str, str]
    """Header names lower-cased; a repeated header's values joined with `, `."""
    body: bytes
    drop: Callable[[], None] = field(repr=False)
    """Closes the connection at once (whichever server carries the request)."""

    def close_connection(self) -> None:
        """Drop the connection without answering (a reset, as the client sees it)."""
        self.drop()


@dataclass
class Response:
    """A reply with a body of known length."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StreamResponse:
    """A reply whose body is sent in chunks as they come (`Transfer-Encoding: chunked`)."""

    status: int
    chunks: Iterable[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response | StreamResponse | None]]
"""Request in; a response, or None when it dropped the connection (`close_connection`)."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def _head(status: int, headers: Mapping[str, str], extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status} {_reason(status)}\r\n"]
    lines.extend(f"{k}: {v}\r\n" for k, v in headers.items())
    lines.append(extra)
    return "".join(lines).encode("latin-1")


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _chunked_body(buf: bytearray, start: int, max_body: int) -> tuple[bytes, int] | None:
    """The decoded chunked body starting at `buf[start]` and the index after it, or None when
    it has not all arrived. Trailers are read and dropped."""
    out = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        # hex digits only: `int(x, 16)` also takes "-6", "+6" and "0x6", and a negative size
        # would step back onto the same line for ever
        if not size_text or not _HEX.issuperset(size_text):
            raise _BadRequest(400, "bad chunk size")
        size = int(size_text, 16)
        if len(out) + size > max_body:
            raise _BadRequest(413, "request body too large")
        pos = eol + 2
        if size == 0:
            while True:  # trailers, up to the empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return bytes(out), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos:pos + size]
        pos += size + 2


class _Connection(asyncio.Protocol):
    """One client connection: parses requests as bytes arrive, answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.pending: deque[tuple[Request, bool]] = deque()
        self.busy = False
        self.closed = False
        self.continued = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pending.clear()
        self.server.connections.discard(self)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            while (parsed := self._parse()) is not None:
                self.pending.append(parsed)
        except _BadRequest as bad:
            self._write(Response(bad.status, f"{bad}\n".encode(), "text/plain"), False)
            self.closed = True
            assert self.transport is not None
            self.transport.close()
            return
        if not self.busy and self.pending:
            self._next()

    def _parse(self) -> tuple[Request, bool] | None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise _BadRequest(431, "request header too large")
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _BadRequest(400, "bad request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(400, "bad header line")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _chunked_body(buf, start, self.server.max_body)
            if decoded is None:
                self._continue(headers)
                return None
            body, stop = decoded
        else:
            text = headers.get("content-length", "0")
            # ASCII digits only: `int` also takes "-5", "+5" and "5_0", and a negative length
            # would leave the request in the buffer to be parsed again for ever
            if not (text.isascii() and text.isdigit()):
                raise _BadRequest(400, "bad content-length")
            length = int(text)
            if length > self.server.max_body:
                raise _BadRequest(413, "request body too large")
            if len(buf) < start + length:
                self._continue(headers)
                return None
            body, stop = bytes(buf[start:start + length]), start + length
        del buf[:stop]
        self.continued = False
        connection = headers.get("connection", "").lower()
        keep_alive = ("close" not in connection if version == "HTTP/1.1"
                      else "keep-alive" in connection)
        path, _, query = target.partition("?")
        return Request(method.upper(), path, query, headers, body, self.abort), keep_alive

    def _continue(self, headers: Mapping[str, str]) -> None:
        """Answer `Expect: 100-continue` once, so such a client sends its body."""
        if not self.continued and headers.get("expect", "").lower() == "100-continue":
            self.continued = True
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _next(self) -> None:
        request, keep_alive = self.pending.popleft()
        self.busy = True
        self.server.spawn(self._serve(request, keep_alive))

    async def _serve(self, request: Request, keep_alive: bool) -> None:
        try:
            response = await self.server.handler(request)
        except Exception:  # a bug in a handler answers 500 and is logged, the server goes on
            log.exception("fake model handler failed on %s %s", request.method, request.path)
            response = Response(500, b"internal error\n", "text/plain")
        if self.closed or response is None or self.transport is None \
                or self.transport.is_closing():
            return
        try:
            self._write(response, keep_alive)
        except Exception:  # a reply that cannot be written (a failing stream, bad headers):
            # drop the connection, as a server that crashed mid-answer does, rather than
            # leave the client and any pipelined requests waiting on it
            log.exception("fake model reply failed on %s %s", request.method, request.path)
            self.abort()
            return
        if not keep_alive:
            self.closed = True
            self.transport.close()
            return
        self.busy = False
        if self.pending:
            self._next()

    def _write(self, response: Response | StreamResponse, keep_alive: bool) -> None:
        assert self.transport is not None
        close = "" if keep_alive else "Connection: close\r\n"
        if isinstance(response, Response):
            ctype = (f"Content-Type: {response.content_type}\r\n"
                     if response.content_type else "")
            head = _head(response.status, response.headers,
                         f"{ctype}Content-Length: {len(response.body)}\r\n{close}\r\n")
            self.transport.write(head + response.body)
            return
        self.transport.write(_head(response.status, response.headers,
                                   f"Transfer-Encoding: chunked\r\n{close}\r\n"))
        for chunk in response.chunks:
            if chunk:
                self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        self.transport.write(b"0\r\n\r\n")


class HttpServer:
    """Serves `handler` on a TCP port until `stop`."""

    def __init__(self, handler: Handler, *, max_body: int = 256 * 1024 * 1024) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a request's handling as a named task, referenced until it is done."""
        task = asyncio.get_running_loop().create_task(coro, name="fake-model-request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (the ephemeral one when `port` is 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        sockname: tuple[Any, ...] = self._server.sockets[0].getsockname()
        return int(sockname[1])

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self.connections):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

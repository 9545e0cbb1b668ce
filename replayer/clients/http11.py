"""A lean HTTP/1.1 client for model endpoints: keep-alive connections on asyncio's protocol
layer, one POST at a time per connection.

Why not aiohttp's client: a replay sends over a thousand requests a second to one endpoint,
and aiohttp's request machinery (request and response objects, timers, cookie jar, payload
writers, stream readers) costs ~0.25 ms of CPU per request, five times what sending the bytes
and reading the answer costs — a quarter of a replay's CPU per turn. A model API needs little
of it: a POST with a body of known length, an answer with a length or chunked, maybe gzip;
TLS for https. Anything else the server says that this does not read (a malformed status line,
an unknown content encoding) is raised as `HttpProtocolError`, which the caller counts as an
unreachable endpoint (retried like a reset).

>>> pool = ConnectionPool("https://api.openai.com/v1", {"Authorization": "Bearer ..."})
>>> status, headers, body = await pool.post("/v1/chat/completions", b"{...}", timeout=120)
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

MAX_HEAD = 256 * 1024
"""Largest status line plus headers read (a bigger head is a protocol error)."""


class HttpProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 this client can read, or the connection broke
    before the answer was complete."""


class _ClosedBeforeAnswer(HttpProtocolError):
    """The connection closed before a byte of the answer came."""


def _decode(body: bytes, encoding: str) -> bytes:
    """The body without its Content-Encoding (gzip and deflate; what we advertise)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, wbits=31)
        if encoding == "deflate":  # zlib-wrapped, as HTTP says; some servers send it raw
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, wbits=-15)
    except zlib.error as exc:
        raise HttpProtocolError(f"the {encoding} body could not be decompressed ({exc})") \
            from exc
    if encoding == "br":
        try:
            import brotli
        except ImportError:
            raise HttpProtocolError("the server sent a brotli body, which was not asked "
                                    "for") from None
        return cast(bytes, brotli.decompress(body))
    raise HttpProtocolError(f"the server sent an unknown content encoding {encoding!r}")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `response()` waits for the answer to the request sent."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self.closed = False
        self.reusable = True
        # the answer being read: head parsed yet? then how its body is framed
        self._status = 0
        self._headers: dict[str, str] = {}
        self._length: int | None = None
        self._chunked = False
        self._head_done = False
        self._chunk_pos = 0
        self._chunks = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._head_done and self._length is None and not self._chunked:
            self._finish(bytes(self.buf))  # a body that runs until the server closes
            return
        waiter.set_exception(
            _ClosedBeforeAnswer("the server closed the connection before answering")
            if not self._head_done and not self.buf
            else HttpProtocolError("the server closed the connection in the middle of the answer"))

    def send(self, data: bytes) -> asyncio.Future[tuple[int, dict[str, str], bytes]]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self._head_done = False
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # bytes nobody asked for: do not trust this connection
            return
        try:
            self._advance()
        except HttpProtocolError as exc:
            self.reusable = False
            self.waiter.set_exception(exc)

    def _advance(self) -> None:
        buf = self.buf
        while not self._head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise HttpProtocolError("the answer's headers are too large")
                return
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[:end + 4]
            version, _, rest = lines[0].partition(" ")
            try:
                status = int(rest[:3])
            except ValueError:
                raise HttpProtocolError(f"not an HTTP status line: {lines[0][:80]!r}") from None
            if not version.startswith("HTTP/1."):
                raise HttpProtocolError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue...): the real one follows
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    name, value = name.strip().lower(), value.strip()
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._status, self._headers, self._head_done = status, headers, True
            connection = headers.get("connection", "").lower()
            if "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
                self.reusable = False
            self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            self._chunk_pos, self._chunks = 0, bytearray()
            if self._chunked:
                self._length = None
            elif status in (204, 304):
                self._length = 0
            elif "content-length" in headers:
                try:
                    self._length = int(headers["content-length"])
                except ValueError:
                    raise HttpProtocolError("a bad Content-Length") from None
            else:
                self._length = None  # until the server closes
                self.reusable = False
        if self._chunked:
            self._advance_chunks()
        elif self._length is not None and len(buf) >= self._length:
            body = bytes(buf[:self._length])
            del buf[:self._length]
            self._finish(body)

    def _advance_chunks(self) -> None:
        buf = self.buf
        while True:
            if self._chunk_pos < 0:  # past the last chunk: reading the trailers
                return self._trailers()
            eol = buf.find(b"\r\n", self._chunk_pos)
            if eol < 0:
                return
            try:
                size = int(bytes(buf[self._chunk_pos:eol]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpProtocolError("a bad chunk size in a chunked answer") from None
            start = eol + 2
            if size == 0:
                del buf[:start]
                self._chunk_pos = -1
                return self._trailers()
            if len(buf) < start + size + 2:
                return
            self._chunks += buf[start:start + size]
            self._chunk_pos = start + size + 2

    def _trailers(self) -> None:
        buf = self.buf
        while (eol := buf.find(b"\r\n")) >= 0:
            del buf[:eol + 2]
            if eol == 0:
                self._finish(bytes(self._chunks))
                return

    def _finish(self, body: bytes) -> None:
        waiter = self.waiter
        assert waiter is not None
        try:
            body = _decode(body, self._headers.get("content-encoding", ""))
        except HttpProtocolError as exc:
            waiter.set_exception(exc)
            return
        if self.buf:
            self.reusable = False
        waiter.set_result((self._status, self._headers, body))


class ConnectionPool:
    """Keep-alive connections to one endpoint, at most `limit` at a time."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, limit: int = 256) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        default_port = self.port == (443 if self.https else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default_port else f"{host}:{self.port}"
        self._ssl = ssl.create_default_context() if self.https else None
        # every request's headers but its length, written once
        fixed = {"Host": self.authority, "Accept": "application/json",
                 "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive", **headers}
        self._head_tail = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        # a slot count and a queue instead of asyncio.Semaphore, and one timer sweeping the
        # deadlines of the answers awaited instead of an asyncio.timeout per request: each
        # costs several microseconds a request, at over a thousand requests a second
        self._limit = limit
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._deadlines: dict[asyncio.Future[Any], float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    async def _acquire(self, deadline: float | None) -> None:
        if self._active < self._limit and not self._waiters:
            self._active += 1
            return
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            async with asyncio.timeout_at(deadline):
                await slot
        except BaseException:
            if slot.done() and not slot.cancelled():
                self._release()  # handed a slot as we gave up: pass it on
            elif slot in self._waiters:
                self._waiters.remove(slot)
            raise

    def _release(self) -> None:
        while self._waiters:
            slot = self._waiters.popleft()
            if not slot.done():
                slot.set_result(None)  # the slot goes to the next in line
                return
        self._active -= 1

    def _watch(self, answer: asyncio.Future[Any], deadline: float, timeout: float) -> None:
        self._deadlines[answer] = deadline
        if self._sweeper is None:
            # timeouts are minutes long for a model call: checking a few times within one
            # (at most every second) keeps them within 1/8 of their length, or a second
            self._sweeper = asyncio.get_running_loop().call_later(min(1.0, timeout / 8),
                                                                  self._sweep, timeout)

    def _sweep(self, timeout: float) -> None:
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        for answer, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[answer]
                if not answer.done():
                    answer.set_exception(TimeoutError())
        if self._deadlines:
            self._sweeper = asyncio.get_running_loop().call_later(min(1.0, timeout / 8),
                                                                  self._sweep, timeout)

    async def _connect(self, deadline: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(deadline):
            _, conn = await loop.create_connection(
                _Connection, self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self.https else None)
        self._open.add(conn)
        return conn

    async def post(self, path: str, body: bytes, *, timeout: float | None
                   ) -> tuple[int, dict[str, str], bytes]:
        """POST `body` to `path`; (status, headers with lower-cased names, decoded body).

        Raises TimeoutError after `timeout` seconds, OSError (HttpProtocolError included)
        when the connection fails or the answer cannot be read.
        """
        data = (f"POST {path} HTTP/1.1\r\n{self._head_tail}"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        await self._acquire(deadline)
        try:
            while self._idle:  # the most recently used first: the least likely to be stale
                conn = self._idle.pop()
                if conn.closed:
                    self._open.discard(conn)
                    continue
                try:
                    return await self._exchange(conn, data, deadline, timeout)
                except _ClosedBeforeAnswer:
                    # the server closed this idle connection as we sent (keep-alive timeouts
                    # race like this): it never answered, so the request goes again on a
                    # fresh connection, as HTTP clients do
                    continue
            conn = await self._connect(deadline)
            return await self._exchange(conn, data, deadline, timeout)
        finally:
            self._release()

    async def _exchange(self, conn: _Connection, data: bytes, deadline: float | None,
                        timeout: float | None) -> tuple[int, dict[str, str], bytes]:
        answer = conn.send(data)
        if deadline is not None and timeout is not None:
            self._watch(answer, deadline, timeout)
        try:
            result = await answer
        except BaseException:
            conn.close()  # half a conversation: the connection cannot be reused
            self._open.discard(conn)
            raise
        finally:
            conn.waiter = None
            self._deadlines.pop(answer, None)
        if conn.reusable and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
            self._open.discard(conn)
        return result

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing

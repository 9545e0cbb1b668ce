"""The streaming forwarder: sends a request upstream verbatim and streams the answer back.

What "verbatim" means here: same method, raw path and query (never re-encoded), headers in
their wire order and case minus hop-by-hop ones, same body bytes. The upstream's own Host is
sent (MCP servers refuse a foreign Host). Response bodies are relayed chunk by chunk as they
arrive, still content-encoded (`auto_decompress=False`), so SSE timing, compression and large
bodies pass through untouched. When recording, the forwarder keeps a `Capture` on the side and
hands it to the sink after the client has its last byte.

Upstream failures answer as a proxy would: 502 (refused, reset, TLS, DNS) or 504 (timeout)
with a JSON body saying what happened, plus `Proxy-Status` and `X-Deploysim-Error` headers.
A failure after the response started cannot change the status; the client connection is
closed so the client sees a broken stream, never a falsely complete one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from yarl import URL

from proxy.capture import Capture, CaptureOptions
from proxy.metrics import Metrics
from proxy.routes import Mode, Route
from proxy.sink import Sink
from recorder.protocols.http_tool import UPSTREAM_PATH_LABEL

if TYPE_CHECKING:
    from proxy.gateway import Gateway

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
})
"""Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded."""
_NOT_FORWARDED = HOP_BY_HOP | {"host", "expect"}  # host: upstream's own; expect: answered here
_SKIP_AUTO = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})
"""Headers aiohttp would add on its own: never invent what the client did not send."""

INLINE_BODY = 4 * 1024 * 1024
"""Request bodies up to this size (with a Content-Length) are read whole; larger ones stream."""
SHUTDOWN_ERROR = "proxy_shutdown: the recorder stopped mid-response"
"""Recorded as the error of an exchange cut by the gateway stopping."""
SMALL_BODY = 64 * 1024
"""Sized response bodies up to this many bytes are read whole and sent in one write; larger
ones (and every stream) are relayed chunk by chunk as they arrive."""


@dataclass(frozen=True)
class Timeouts:
    """Upstream timeouts in seconds (None: no limit)."""

    connect: float | None = 10.0
    """To open a connection (TCP and TLS)."""
    read: float | None = 600.0
    """Longest silence while waiting for response bytes (a stream may last longer)."""


class Forwarder:
    """Route handler for `record` and `passthrough` routes; also the building block of hybrid.

    >>> fwd = Forwarder(client, sink=sink, metrics=metrics)      # doctest: +SKIP
    >>> response = await fwd.forward(request, route, "/v1/models", record=True)
    """

    def __init__(
        self,
        client: aiohttp.ClientSession,
        *,
        sink: Sink | None,
        metrics: Metrics,
        options: CaptureOptions = CaptureOptions(),
    ) -> None:
        self.client = client
        self.sink = sink
        self.metrics = metrics
        self.options = options

    async def start(self, gateway: Gateway) -> None:
        """Nothing to set up: the forwarder is built by the gateway with everything it needs."""

    async def close(self) -> None:
        """The client session belongs to the gateway, which closes it."""

    async def handle(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        """Forward, recording when the route's mode is `record`."""
        return await self.forward(request, route, rest, record=route.mode == Mode.RECORD)

    async def forward(
        self,
        request: web.Request,
        route: Route,
        rest: str,
        *,
        record: bool,
        labels: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        """Send `request` to `route`'s upstream at `rest` and stream the response back."""
        assert route.upstream_url is not None, "a forwarding route needs an upstream URL"
        t0 = time.perf_counter()
        started = time.time()
        url = route.target(rest)
        headers = _forwardable(request.raw_headers, _NOT_FORWARDED)
        cap: Capture | None = None
        if record and self.sink is not None:
            cap = self._capture(request, route, url, started, labels)

        try:
            body = await self._request_body(request, cap)
        except Exception as exc:  # the client went away while sending its body
            await self._finish(cap, t0, f"client_disconnected: {_describe(exc)} (while sending "
                               "the request body)")
            raise web.HTTPBadRequest(text="incomplete request body") from None

        try:
            upstream = await self.client.request(
                request.method, URL(url, encoded=True), headers=headers, data=body,
                skip_auto_headers=_SKIP_AUTO, allow_redirects=False,
            )
        except Exception as exc:
            kind, status = classify(exc)
            return await self._fail(cap, t0, route, url, kind, status, exc)

        try:
            return await self._relay(request, upstream, cap, t0, route, url)
        finally:
            upstream.release()

    async def _request_body(self, request: web.Request,
                            cap: Capture | None) -> bytes | AsyncIterator[bytes] | None:
        """The body to send upstream, as received (still content-encoded: the gateway's
        server does not decompress): read whole when small, else streamed through."""
        if not request.body_exists:
            return None
        length = request.content_length
        if length is not None and length <= INLINE_BODY:
            body = await request.read()
            self.metrics.bytes_in += len(body)
            if cap is not None:
                cap.request_body = body
            return body
        return self._stream_body(request, cap)

    def _capture(self, request: web.Request, route: Route, url: str, started: float,
                 labels: dict[str, str] | None) -> Capture:
        hdrs = request.headers
        lab = dict(labels) if labels else {}
        if route.upstream_path:
            # lets the recorder name HTTP tool calls by the path the agent called under its
            # route (`GET /customers/1`), not the upstream's full path (`GET /crm/customers/1`)
            lab.setdefault(UPSTREAM_PATH_LABEL, route.upstream_path)
        return Capture(
            method=request.method, url=url, started_at=started,
            request_headers=request.raw_headers, route=route.name,
            session_hint=self.options.session_hint(hdrs),
            labels=self.options.labels(hdrs, lab),
        )

    async def _stream_body(self, request: web.Request, cap: Capture | None) -> AsyncIterator[bytes]:
        kept = bytearray()
        async for data in request.content.iter_any():
            self.metrics.bytes_in += len(data)
            if cap is not None and len(kept) < self.options.max_capture:
                kept += data[: self.options.max_capture - len(kept)]
            yield data
        if cap is not None:
            cap.request_body = bytes(kept)
            if len(kept) >= self.options.max_capture:
                cap.truncated("request", self.options.max_capture)

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     cap: Capture | None, t0: float, route: Route, url: str) -> web.StreamResponse:
        streamed = _is_stream(upstream)
        if not streamed and (upstream.content_length or 0) <= SMALL_BODY:
            return await self._relay_small(request, upstream, cap, t0)
        # the headers go out at `prepare`, before any body bytes: an MCP GET stream may stay
        # silent for minutes, and the client is waiting for them
        resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        out = resp.headers
        for k, v in _forwardable(upstream.raw_headers, HOP_BY_HOP):
            out.add(k, v)
        chunks: list[tuple[float, bytes]] | None = None
        kept = 0
        if cap is not None:
            _response_started(cap, upstream)
            chunks = cap.chunks = []
        await resp.prepare(request)
        metrics, limit = self.metrics, self.options.max_capture
        try:
            async for data in upstream.content.iter_any():
                await resp.write(data)
                metrics.bytes_out += len(data)
                if chunks is not None and kept < limit:
                    chunks.append(((time.perf_counter() - t0) * 1000.0, data))
                    kept += len(data)
        except ConnectionResetError as exc:  # aiohttp's ClientConnectionResetError is one
            # the client went away: stop reading upstream; aiohttp closes the connection
            await self._finish(cap, t0, f"client_disconnected: {exc}")
            return resp
        except asyncio.CancelledError:
            # the gateway is stopping and this stream outlived the grace period: keep what
            # was relayed, say why it ends there
            await self._finish(cap, t0, SHUTDOWN_ERROR)
            raise
        except Exception as exc:
            await self._broken(request, cap, t0, exc)
            return resp
        if cap is not None:
            if kept >= limit:
                cap.truncated("response", limit)
            if not streamed and chunks is not None:
                cap.response_body = b"".join(d for _, d in chunks)
                cap.chunks = None
        try:
            await resp.write_eof()
        except asyncio.CancelledError:
            await self._finish(cap, t0, SHUTDOWN_ERROR)
            raise
        except Exception as exc:  # the client left as the answer ended (a reset, mostly)
            await self._finish(cap, t0, f"client_disconnected: {_describe(exc)}")
            return resp
        await self._finish(cap, t0, None)
        return resp

    async def _relay_small(self, request: web.Request, upstream: aiohttp.ClientResponse,
                           cap: Capture | None, t0: float) -> web.StreamResponse:
        """A small sized body (most JSON API answers): read it whole, send headers and body in
        one write. Same bytes and failure behaviour as the chunked relay, less work per request."""
        if cap is not None:
            _response_started(cap, upstream)
        try:
            data = await upstream.read()
        except asyncio.CancelledError:
            await self._finish(cap, t0, SHUTDOWN_ERROR)
            raise
        except Exception as exc:
            await self._broken(request, cap, t0, exc)
            return web.Response(status=502)  # never sent: the connection is closed
        resp = web.Response(status=upstream.status, reason=upstream.reason)
        out = resp.headers
        for k, v in _forwardable(upstream.raw_headers, HOP_BY_HOP):
            out.add(k, v)
        resp.body = data  # after the headers: keeps the upstream's own Content-Length
        self.metrics.bytes_out += len(data)
        if cap is not None:
            cap.response_body = data[: self.options.max_capture]
            if len(data) > self.options.max_capture:
                cap.truncated("response", self.options.max_capture)
        # the sink gets the capture once the client has the whole answer (as in `_relay`)
        try:
            await resp.prepare(request)
            await resp.write_eof()
        except asyncio.CancelledError:
            await self._finish(cap, t0, SHUTDOWN_ERROR)
            raise
        except Exception as exc:  # the client went away (a reset, mostly)
            await self._finish(cap, t0, f"client_disconnected: {_describe(exc)}")
            return resp
        await self._finish(cap, t0, None)
        return resp

    async def _broken(self, request: web.Request, cap: Capture | None, t0: float,
                      exc: Exception) -> None:
        """The upstream failed after its response started: the status cannot change, so the
        client connection is closed (a truncated answer must not look complete)."""
        kind, _ = classify(exc)
        self.metrics.count_upstream_error(kind)
        if request.transport is not None:
            request.transport.close()
        await self._finish(cap, t0, f"{kind}: {_describe(exc)} (after the response started)")

    async def _fail(self, cap: Capture | None, t0: float, route: Route, url: str, kind: str,
                    status: int, exc: BaseException) -> web.StreamResponse:
        self.metrics.count_upstream_error(kind)
        message = (f"deploysim could not get a response from the upstream {url} "
                   f"(route {route.label}): {kind}: {_describe(exc)}")
        payload = {"error": {"type": "deploysim_upstream_error", "kind": kind,
                             "message": message}}
        status_code = _PROXY_STATUS.get(kind, "proxy_internal_error")
        resp = web.Response(
            status=status, body=json.dumps(payload).encode(), content_type="application/json",
            headers={"X-Deploysim-Error": kind, "Proxy-Status": f"deploysim; error={status_code}"},
        )
        await self._finish(cap, t0, f"{kind}: {_describe(exc)}")
        return resp

    async def _finish(self, cap: Capture | None, t0: float, error: str | None) -> None:
        """Hand the capture to the sink. Under `drop` this returns at once; under `block` a
        full queue holds this connection (not the response, already sent) until there is room."""
        if cap is None or self.sink is None:
            return
        cap.ended_at = cap.started_at + (time.perf_counter() - t0)
        if error is not None:
            cap.error = error
        await self.sink.put(cap)


def _response_started(cap: Capture, upstream: aiohttp.ClientResponse) -> None:
    cap.status = upstream.status
    cap.reason = upstream.reason or ""
    cap.response_headers = upstream.raw_headers


def _forwardable(raw: tuple[tuple[bytes, bytes], ...],
                 drop: frozenset[str]) -> list[tuple[str, str]]:
    """Headers as received (name case and order kept; `request.headers` would normalise the
    case of well-known names), minus `drop` and whatever `Connection` names as hop-by-hop.

    Values are decoded as UTF-8 (aiohttp encodes them back as UTF-8, so they round-trip
    byte for byte), Latin-1 when they are not UTF-8."""
    out: list[tuple[str, str]] = []
    named: set[str] | None = None
    names = _NAMES
    for k, v in raw:
        known = names.get(k)
        if known is None:
            known = _learn_name(k)
        name, lower = known
        if lower == "connection":
            named = {t.strip().lower() for t in v.decode("latin-1").split(",")}
        if lower in drop:
            continue
        try:
            value = v.decode()
        except UnicodeDecodeError:
            value = v.decode("latin-1")
        out.append((name, value))
    if named:
        out = [(k, v) for k, v in out if k.lower() not in named]
    return out


_NAMES: dict[bytes, tuple[str, str]] = {}
"""Header names seen so far, decoded and lower-cased (a few dozen in practice: the same
names arrive on every request, so decoding them once takes work off the request path)."""
_MAX_NAMES = 4096  # a client inventing names per request must not grow this without bound


def _learn_name(raw: bytes) -> tuple[str, str]:
    name = raw.decode("latin-1")  # header names are ASCII tokens
    known = (name, name.lower())
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[raw] = known
    return known


def _is_stream(upstream: aiohttp.ClientResponse) -> bool:
    """Record chunk timings for streams: SSE, NDJSON, or bodies without a declared length."""
    ctype = upstream.headers.get("Content-Type", "")
    return (ctype.startswith("text/event-stream") or "ndjson" in ctype
            or upstream.headers.get("Content-Length") is None)


_PROXY_STATUS = {
    "refused": "connection_refused", "timeout": "connection_timeout",
    "reset": "connection_terminated",
    "dns": "dns_error", "tls": "tls_certificate_error",
}


def classify(exc: BaseException) -> tuple[str, int]:
    """(kind, status) of an upstream failure: refused, dns, tls, timeout, reset, or error."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", 502
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "tls", 502
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout", 504
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "refused", 502
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError |
                  aiohttp.ClientOSError | ConnectionError):
        return "reset", 502
    return "error", 502


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")

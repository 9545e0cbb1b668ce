"""The gateway: one aiohttp server fronting several upstreams, each route in its own mode.

    Gateway(routes, sink)                       the server: route table, client pool, endpoints
    ├── Route(name, upstream_url, mode, handler)     `/` or `/NAME/` → upstream (proxy.routes)
    ├── RouteHandler                             answers a route's requests (protocol below)
    │   └── Forwarder                            record | passthrough (proxy.forward)
    ├── GET /_deploysim/health                   JSON: status, routes, uptime
    └── GET /_deploysim/metrics                  Prometheus text (proxy.metrics)

A route without a handler gets the gateway's shared `Forwarder`. Replay and hybrid routes bring
their own handler; a hybrid handler can forward misses with `gateway.forwarder.forward(...)`.

>>> gw = Gateway([parse_upstream("https://api.openai.com")], sink)     # doctest: +SKIP
>>> await gw.start("127.0.0.1", 8080)
>>> print(gw.banner("recording to out/"))
>>> await gw.stop()
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from proxy.capture import DEFAULT_MAX_CAPTURE, CaptureOptions
from proxy.errors import BadListen
from proxy.forward import Forwarder, Timeouts
from proxy.metrics import Metrics
from proxy.routes import RESERVED_PREFIX, Mode, Route, check_routes, split_path
from proxy.sink import Sink

HEALTH_PATH = f"/{RESERVED_PREFIX}/health"
METRICS_PATH = f"/{RESERVED_PREFIX}/metrics"
MAX_HEADER_LINE = 64 * 1024
"""Longest request line or header the gateway accepts (aiohttp's default, 8 KB, is too tight
for some real clients; refusing what the upstream would accept would break production)."""
MAX_HEADERS = 1024
"""Most headers in one request or upstream response. aiohttp's default, 128, is below what
real clients and servers send (tracing, cookies, feature flags); Go's net/http allows 1 MB of
headers. A proxy that refuses what the upstream would accept breaks the user's traffic."""


class RouteHandler(Protocol):
    """Answers the requests of one or more routes.

    `start` runs once when the gateway starts (the gateway's client pool, forwarder and
    metrics are ready); `close` once when it stops. `rest` is the raw path and query after the
    route's prefix (`""`, `/...` or `?...`), never decoded.

    >>> class Teapot:                                             # doctest: +SKIP
    ...     async def start(self, gateway): pass
    ...     async def close(self): pass
    ...     async def handle(self, request, route, rest):
    ...         return web.Response(status=418, text="short and stout")
    >>> Gateway([Route("tea", None, Mode.REPLAY, Teapot())], sink=None)
    """

    async def start(self, gateway: Gateway) -> None: ...

    async def handle(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse: ...

    async def close(self) -> None: ...


class Gateway:
    """An aiohttp server routing `/` and `/NAME/` to upstreams, recording through `sink`.

    `sink` receives the captures of `record` (and hybrid) routes; None records nothing.
    `upstream_ca` is a PEM bundle trusted for HTTPS upstreams in addition to the system CAs;
    `verify_upstream=False` skips upstream certificate checks (tests and labs only).
    `max_capture` bounds the bytes of one body kept for the cassette (traffic is never cut).
    `shutdown_grace`: seconds in-flight requests get to finish on `stop`; streams still open
    then are cut and recorded with `error="proxy_shutdown: ..."`.
    """

    def __init__(
        self,
        routes: list[Route],
        sink: Sink | None,
        *,
        metrics: Metrics | None = None,
        session_header: str = "X-Deploysim-Session",
        segment_header: str = "X-Deploysim-Segment",
        timeouts: Timeouts = Timeouts(),
        upstream_ca: str | None = None,
        verify_upstream: bool = True,
        max_capture: int = DEFAULT_MAX_CAPTURE,
        shutdown_grace: float = 10.0,
        name: str = "deploysim record",
    ) -> None:
        check_routes(routes)
        self.routes = list(routes)
        self.sink = sink
        self.metrics = metrics or Metrics()
        self.session_header = session_header
        self.segment_header = segment_header
        self.timeouts = timeouts
        self.upstream_ca = upstream_ca
        self.verify_upstream = verify_upstream
        self.max_capture = max_capture
        self.shutdown_grace = shutdown_grace
        self.name = name
        self._named = {r.name: r for r in self.routes if r.name is not None}
        self._root = next((r for r in self.routes if r.name is None), None)
        self.client: aiohttp.ClientSession | None = None
        self.forwarder: Forwarder | None = None
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0
        self.started = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The gateway's base URL once started (`http://HOST:PORT`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Open the client pool, start every handler, listen; returns the base URL."""
        self.client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=self._ssl_context(),
                                           ttl_dns_cache=300),
            auto_decompress=False,  # bodies pass through still encoded, byte for byte
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeouts.connect,
                                          sock_read=self.timeouts.read),
            cookie_jar=aiohttp.DummyCookieJar(),  # a proxy must not keep or add cookies
            skip_auto_headers=("User-Agent",),
            max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
        )
        options = CaptureOptions(self.session_header, self.segment_header, self.max_capture)
        self.forwarder = Forwarder(self.client, sink=self.sink, metrics=self.metrics,
                                   options=options)
        for handler in self._handlers():
            await handler.start(self)
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=self.shutdown_grace,
            max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
            # request bodies pass through still content-encoded, byte for byte (aiohttp would
            # decode them and the upstream would get the decoded bytes labelled gzip); the
            # recorder decodes its own copy
            auto_decompress=False,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise BadListen(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); choose "
                            "another --listen address or free the port.") from exc
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.host, self.port = sockets[0].getsockname()[:2]
        else:
            self.host, self.port = host, port
        self.started = time.time()
        return self.url

    async def stop(self) -> None:
        """Stop listening (in-flight requests get `shutdown_grace`), close handlers and pool."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for handler in self._handlers():
            await handler.close()
        if self.client is not None:
            await self.client.close()
            self.client = None

    def _handlers(self) -> list[Any]:
        seen: list[Any] = []
        for route in self.routes:
            handler = route.handler or self.forwarder
            if handler is not None and all(handler is not h for h in seen):
                seen.append(handler)
        return seen

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify_upstream:
            return False
        ctx = ssl.create_default_context()
        if self.upstream_ca:
            ctx.load_verify_locations(cafile=self.upstream_ca)
        return ctx

    # -- serving -------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        # client_max_size only bounds bodies read whole (<= forward.INLINE_BODY); larger ones
        # are streamed through and never held in memory
        app = web.Application(client_max_size=1 << 40)
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_get(METRICS_PATH, self._metrics)
        app.router.add_route("*", "/{rest:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path
        found = split_path(raw_path, self._named, self._root) if raw_path[:1] == "/" else None
        if found is None:
            return _no_route(raw_path, self.routes)
        route, rest = found
        handler = route.handler or self.forwarder
        assert handler is not None, "the gateway is not started"
        metrics = self.metrics
        metrics.count_request(route.label)
        metrics.in_flight += 1
        try:
            return await handler.handle(request, route, rest)
        finally:
            metrics.in_flight -= 1

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok",
            "name": self.name,
            "uptime_s": round(time.time() - self.started, 3) if self.started else 0.0,
            "routes": [{"prefix": r.prefix, "name": r.name, "upstream": r.upstream_url,
                        "mode": str(r.mode)} for r in self.routes],
        })

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    # -- telling the user ----------------------------------------------------------------

    def banner(self, extra: str = "") -> str:
        """One line: where the gateway listens and what to point the agent at."""
        parts = []
        for r in self.routes:
            where = self.url + ("/" if r.name is None else f"/{r.name}")
            target = f" → {r.upstream_url}" if r.upstream_url else ""
            parts.append(f"{where}{target} [{r.mode}]")
        line = f"{self.name}: listening on {self.url}; point the agent at " + ", ".join(parts)
        if extra:
            line += f"; {extra}"
        return line + f"; metrics {self.url}{METRICS_PATH}"


def _no_route(raw_path: str, routes: list[Route]) -> web.Response:
    prefixes = ", ".join(r.prefix for r in routes) or "(none)"
    if raw_path[:1] != "/":
        message = (f"The gateway got an absolute-form request target {raw_path!r}: it is not a "
                   "forward proxy; set the client's base URL to the gateway, or run "
                   "`deploysim record --mitm` for clients that need a forward proxy.")
    else:
        message = (f"No route serves {raw_path!r}; this gateway serves {prefixes}; put the "
                   "route name first in the path, or add an --upstream for it.")
    body = {"error": {"type": "deploysim_no_route", "message": message}}
    return web.Response(status=404, body=json.dumps(body).encode(),
                        content_type="application/json")


__all__ = ["Gateway", "Mode", "Route", "RouteHandler"]

"""Factories for tests and benchmarks of the recording proxy: tapped upstreams that log the raw
bytes they receive, a running gateway recording into a folder, and cassette reads.

    serving(app)              run an aiohttp app on 127.0.0.1:0, yield its URL
    app_with(handler, log)    an app sending every request to `handler`, tapped into `log`
    sse(request)              an SSE response of numbered events
    gateway(upstreams, out)   a started recording gateway (redaction on, as in production)
    exchanges(paths)          every exchange in some cassettes, failing on any damage
    self_signed_cert(dir)     a certificate for an HTTPS upstream on 127.0.0.1

Every server binds 127.0.0.1 on an ephemeral port. The replay proxy's factories are in
`proxy.replay.testing`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from proxy.forward import HOP_BY_HOP
from proxy.gateway import Gateway
from proxy.metrics import Metrics
from proxy.routes import Route, parse_upstream
from proxy.sink import RecordingSink
from recorder.exchange import Exchange
from recorder.reader import CassetteReader

WEATHER_PARAMETERS: Any = {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}
"""The JSON schema of the `get_weather(city)` tool the SDK tests offer the model."""
TOOLS_CHAT: Any = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_PARAMETERS}}]
TOOLS_RESPONSES: Any = [{"type": "function", "name": "get_weather",
                         "description": "Weather for a city", "parameters": WEATHER_PARAMETERS}]
TOOLS_ANTHROPIC: Any = [{"name": "get_weather", "description": "Weather for a city",
                         "input_schema": WEATHER_PARAMETERS}]


@dataclass
class RawRequest:
    """A request exactly as an upstream received it."""

    method: str
    raw_path: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    peer: Any = None

    def comparable(self) -> tuple[str, str, list[tuple[bytes, bytes]], bytes]:
        """Everything end to end: hop-by-hop headers (Connection, ...) belong to one hop."""
        headers = [(k, v) for k, v in self.headers if k.decode().lower() not in HOP_BY_HOP]
        return self.method, self.raw_path, headers, self.body


def tap(log: list[RawRequest]) -> Any:
    """aiohttp middleware that logs every request's raw bytes before the handler runs."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        log.append(RawRequest(request.method, request.raw_path, list(request.raw_headers), body,
                              peer))
        return await handler(request)

    return middleware


@asynccontextmanager
async def serving(app: web.Application, *, raw_bodies: bool = False,
                  **site: Any) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1:0; yields its base URL. `raw_bodies`: request bodies reach the
    app as sent, still content-encoded (aiohttp's server decodes them by default)."""
    runner = web.AppRunner(app, access_log=None, auto_decompress=not raw_bodies,
                           max_headers=4096)
    await runner.setup()
    s = web.TCPSite(runner, "127.0.0.1", 0, **site)
    await s.start()
    port = s._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if site.get("ssl_context") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def app_with(handler: Handler, log: list[RawRequest] | None = None) -> web.Application:
    """An app sending every path and method to `handler` (tapped when `log` is given)."""
    app = web.Application(middlewares=[tap(log)] if log is not None else [],
                          client_max_size=1 << 30)
    app.router.add_route("*", "/{rest:.*}", handler)
    return app


async def sse(request: web.Request, n: int = 5, gap: float = 0.1) -> web.StreamResponse:
    """An SSE response: `n` events `gap` seconds apart."""
    n = int(request.query.get("n", n))
    gap = float(request.query.get("gap", gap))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    try:
        for i in range(n):
            if i:
                await asyncio.sleep(gap)
            await resp.write(f"data: {{\"i\": {i}}}\n\n".encode())
        await resp.write_eof()
    except ConnectionResetError:  # the reader left (the tests that cut streams want this)
        pass
    return resp


@dataclass
class GatewayRun:
    gateway: Gateway
    sink: RecordingSink
    metrics: Metrics
    url: str
    out: str
    closed: bool = field(default=False)

    async def close(self) -> list[Exchange]:
        """Stop the gateway and the sink; the exchanges recorded."""
        if not self.closed:
            self.closed = True
            await self.gateway.stop()
            await self.sink.aclose()
        return exchanges(self.sink.paths)


@asynccontextmanager
async def gateway(
    upstreams: Iterable[str | Route], out: str, *, sink_kw: dict[str, Any] | None = None,
    **gateway_kw: Any,
) -> AsyncIterator[GatewayRun]:
    """A started gateway recording into `out` (redaction on, as in production; the writer on
    a thread unless `sink_kw` asks for the process)."""
    metrics = Metrics()
    kw: dict[str, Any] = {"isolation": "thread"}
    kw.update(sink_kw or {})
    sink = RecordingSink(out, metrics=metrics, **kw)
    sink.start()
    routes = [parse_upstream(u) if isinstance(u, str) else u for u in upstreams]
    gw = Gateway(routes, sink, metrics=metrics, **gateway_kw)
    url = await gw.start("127.0.0.1", 0)
    run = GatewayRun(gw, sink, metrics, url, out)
    try:
        yield run
    finally:
        await run.close()


def exchanges(paths: Iterable[str]) -> list[Exchange]:
    """Every exchange in the cassettes, in order; fails on any damage."""
    out: list[Exchange] = []
    for path in paths:
        reader = CassetteReader(path)
        out.extend(r for r in reader if isinstance(r, Exchange))
        assert not reader.problems, reader.problems
    return out


def records(paths: Iterable[str]) -> list[Any]:
    out: list[Any] = []
    for path in paths:
        out.extend(CassetteReader(path))
    return out


def cassettes(out: str) -> list[str]:
    return sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".cassette"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def self_signed_cert(directory: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (and its key), as PEM files in `directory`."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deploysim test upstream")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "upstream-cert.pem")
    key_path = os.path.join(directory, "upstream-key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path

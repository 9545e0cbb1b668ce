"""The forward proxy (embedded mitmproxy + the deploysim addon): HTTPS interception with
deploysim's CA, unbuffered streams, reverse mode, upstream failures recorded."""

from __future__ import annotations

import itertools
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from aiohttp import web

from proxy.metrics import Metrics
from proxy.mitm_runner import MitmRecorder, ca_cert_path
from proxy.sink import RecordingSink
from proxy.testing import app_with, exchanges, free_port, self_signed_cert, serving, sse
from recorder.exchange import Exchange

BIG = bytes(range(256)) * 4096  # 1 MiB: over the addon's streaming threshold


async def _handler(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/sse"):
        return await sse(request)
    if request.path.startswith("/big"):
        return web.Response(body=BIG, content_type="application/octet-stream")
    body = await request.read()
    return web.json_response({"path": request.raw_path, "len": len(body),
                              "auth": request.headers.get("Authorization", "")})


@asynccontextmanager
async def mitm(out: str, **kw: object) -> AsyncIterator[tuple[str, MitmRecorder, RecordingSink]]:
    metrics = Metrics()
    sink = RecordingSink(out, metrics=metrics, isolation="thread")
    sink.start()
    rec = MitmRecorder(sink, metrics, listen=("127.0.0.1", 0), **kw)  # type: ignore[arg-type]
    host, port = await rec.start()
    try:
        yield f"http://{host}:{port}", rec, sink
    finally:
        await rec.stop()
        await sink.aclose()


async def test_https_through_the_forward_proxy_with_deploysims_ca(tmp_path):
    cert, key = self_signed_cert(str(tmp_path))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with serving(app_with(_handler), ssl_context=server_ctx) as up, \
            mitm(str(tmp_path / "out"), upstream_ca=cert) as (proxy_url, rec, sink):
        client_ctx = ssl.create_default_context(cafile=ca_cert_path())  # deploysim's CA only
        async with httpx2.AsyncClient(proxy=proxy_url, verify=client_ctx) as c:
            r = await c.post(up + "/v1/chat?x=1", json={"q": 1},
                             headers={"Authorization": "Bearer sk-secret-42",
                                      "X-Deploysim-Session": "mitm-1"})
        assert r.status_code == 200
        assert r.json() == {"path": "/v1/chat?x=1", "len": 7, "auth": "Bearer sk-secret-42"}
        metrics = rec.metrics.snapshot()
    ex, = exchanges(sink.paths)
    assert ex.request.url == up + "/v1/chat?x=1"
    assert ex.session_hint == "mitm-1" and ex.labels["capture"] == "mitm"
    assert ex.request.body == b'{"q":1}'
    assert ex.response is not None and b'"len": 7' in ex.response.body
    assert "sk-secret-42" not in str(ex.request.headers)
    assert metrics["requests"] == 1 and metrics["in_flight"] == 0


async def test_untrusted_upstream_is_refused_without_the_ca_option(tmp_path):
    cert, key = self_signed_cert(str(tmp_path))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with serving(app_with(_handler), ssl_context=server_ctx) as up, \
            mitm(str(tmp_path / "out")) as (proxy_url, _, sink):
        client_ctx = ssl.create_default_context(cafile=ca_cert_path())
        async with httpx2.AsyncClient(proxy=proxy_url, verify=client_ctx) as c:
            r = await c.get(up + "/x")
        assert r.status_code == 502  # mitmproxy's answer: the upstream cert is not trusted
    ex, = exchanges(sink.paths)
    assert ex.error is not None and ex.error.startswith("tls")


@pytest.mark.parametrize("mode", ["regular", "reverse"])
async def test_sse_through_the_forward_proxy_keeps_its_spacing(tmp_path, mode):
    async with serving(app_with(_handler)) as up:
        kw = {"mode": f"reverse:{up}"} if mode == "reverse" else {}
        async with mitm(str(tmp_path / "out"), **kw) as (proxy_url, _, sink):
            arrivals: list[float] = []
            client = (httpx2.AsyncClient(proxy=proxy_url) if mode == "regular"
                      else httpx2.AsyncClient())
            target = (up if mode == "regular" else proxy_url) + "/sse?n=5&gap=0.1"
            async with client as c:
                t0 = time.perf_counter()
                async with c.stream("GET", target) as resp:
                    async for _ in resp.aiter_raw():
                        arrivals.append(time.perf_counter() - t0)
    assert len(arrivals) == 5
    assert all(b - a > 0.05 for a, b in itertools.pairwise(arrivals)), arrivals
    ex: Exchange
    ex, = exchanges(sink.paths)
    assert ex.request.url == up + "/sse?n=5&gap=0.1"
    assert ex.response is not None and ex.response.chunks is not None
    assert len(ex.response.chunks) == 5
    assert ex.response.chunks[-1].offset_ms - ex.response.chunks[0].offset_ms > 300


async def test_refused_upstream_is_recorded(tmp_path):
    async with mitm(str(tmp_path / "out")) as (proxy_url, rec, sink):
        async with httpx2.AsyncClient(proxy=proxy_url) as c:
            r = await c.get(f"http://127.0.0.1:{free_port()}/v1")
        assert r.status_code == 502
        assert rec.metrics.upstream_errors == {"refused": 1}
    ex, = exchanges(sink.paths)
    assert ex.response is None and ex.error is not None and ex.error.startswith("refused")


async def test_small_and_large_sized_bodies_are_relayed_and_recorded_whole(tmp_path):
    async with serving(app_with(_handler)) as up, \
            mitm(str(tmp_path / "out"), mode=f"reverse:{up}") as (proxy_url, _, sink), \
            httpx2.AsyncClient() as c:
        small = await c.post(proxy_url + "/small", content=b"abc")
        big = await c.get(proxy_url + "/big")
    assert small.json()["len"] == 3 and big.content == BIG
    by_url = {ex.request.url.rsplit("/", 1)[1]: ex for ex in exchanges(sink.paths)}
    assert by_url["small"].response is not None and b'"len": 3' in by_url["small"].response.body
    large = by_url["big"].response
    assert large is not None and large.body == BIG and large.chunks is None

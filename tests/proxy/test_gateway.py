"""The gateway's own endpoints, the route table in action, and the handler extension point."""

from __future__ import annotations

import asyncio

import httpx2
from aiohttp import web

from proxy.gateway import Gateway, RouteHandler
from proxy.routes import Mode, Route, parse_upstream
from proxy.testing import app_with, gateway, serving

WHO = web.AppKey("who", str)


async def _whoami(request: web.Request) -> web.StreamResponse:
    return web.json_response({"path": request.raw_path, "who": request.app[WHO]})


def _named_app(who: str) -> web.Application:
    app = app_with(_whoami)
    app[WHO] = who
    return app


class Canned:
    """A replay-style handler: answers without any upstream."""

    def __init__(self) -> None:
        self.started_with: Gateway | None = None
        self.closed = False

    async def start(self, gateway: Gateway) -> None:
        self.started_with = gateway

    async def handle(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        return web.json_response({"canned": rest, "route": route.name, "mode": str(route.mode)})

    async def close(self) -> None:
        self.closed = True


async def test_one_gateway_fronts_several_upstreams_and_a_handler(tmp_path):
    canned = Canned()
    handler: RouteHandler = canned
    async with serving(_named_app("llm")) as llm, serving(_named_app("github")) as gh, \
            gateway([llm, f"github={gh}/mcp", Route("stub", None, Mode.REPLAY, handler)],
                    str(tmp_path)) as gw, httpx2.AsyncClient() as c:
        assert canned.started_with is gw.gateway
        r = await c.post(gw.url + "/v1/chat/completions?x=1")
        assert r.json() == {"path": "/v1/chat/completions?x=1", "who": "llm"}
        r = await c.post(gw.url + "/github")
        assert r.json() == {"path": "/mcp", "who": "github"}
        r = await c.get(gw.url + "/github/resources?a=b")
        assert r.json() == {"path": "/mcp/resources?a=b", "who": "github"}
        r = await c.get(gw.url + "/stub/anything?q")
        assert r.json() == {"canned": "/anything?q", "route": "stub", "mode": "replay"}

        health = (await c.get(gw.url + "/_deploysim/health")).json()
        assert health["status"] == "ok"
        assert [(r["prefix"], r["mode"]) for r in health["routes"]] == [
            ("/", "record"), ("/github/", "record"), ("/stub/", "replay")]

        metrics = (await c.get(gw.url + "/_deploysim/metrics"))
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        for line in ('deploysim_proxy_requests_total{route="/"} 1',
                     'deploysim_proxy_requests_total{route="github"} 2',
                     'deploysim_proxy_requests_total{route="stub"} 1',
                     "deploysim_proxy_in_flight 0",
                     "deploysim_proxy_dropped_total 0",
                     "# TYPE deploysim_proxy_queue_depth gauge",
                     'deploysim_proxy_bytes_total{direction="out"}'):
            assert line in text, line
        banner = gw.gateway.banner("recording to out/")
        recorded = await gw.close()
    assert canned.closed
    assert "/github → " in banner and "[replay]" in banner and "recording to out/" in banner
    assert banner.count("\n") == 0
    # the replay route was answered by its handler, not recorded by the forwarder
    assert sorted(str(ex.route) for ex in recorded) == ["None", "github", "github"]


async def test_unknown_route_and_absolute_form_get_a_clear_404(tmp_path):
    async with serving(_named_app("x")) as up, \
            gateway([f"only={up}"], str(tmp_path)) as gw, httpx2.AsyncClient() as c:
        r = await c.get(gw.url + "/elsewhere")
        assert r.status_code == 404
        assert "No route serves '/elsewhere'" in r.json()["error"]["message"]
        assert "/only/" in r.json()["error"]["message"]
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.gateway.port)
        writer.write(b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await writer.drain()
        answer = await reader.read(4096)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 404") and b"--mitm" in answer, answer


async def test_passthrough_route_forwards_without_recording(tmp_path):
    async with serving(_named_app("x")) as up, \
            gateway([parse_upstream(up, Mode.PASSTHROUGH)], str(tmp_path)) as gw, \
            httpx2.AsyncClient() as c:
        assert (await c.get(gw.url + "/a")).json()["who"] == "x"
        assert await gw.close() == []

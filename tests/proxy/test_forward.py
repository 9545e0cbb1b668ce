"""The streaming forwarder: verbatim requests, untouched streamed responses, upstream failures."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable

import httpx2
import pytest
from aiohttp import web

from proxy.testing import RawRequest, app_with, free_port, gateway, serving, sse


async def _echo(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/sse"):
        return await sse(request)
    if request.path.startswith("/gzip"):
        return web.Response(body=gzip.compress(b"compressed " * 1000),
                            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})
    if request.path.startswith("/chunked"):
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b'{"a":', b' 1, "b":', b' [1, 2]}'):
            await resp.write(part)
        await resp.write_eof()
        return resp
    if request.path.startswith("/big"):
        size = int(request.query["size"])
        return web.Response(body=os.urandom(1024) * (size // 1024),
                            content_type="application/octet-stream")
    if request.path.startswith("/status"):
        return web.Response(status=int(request.query["code"]), text="upstream says no",
                            headers={"X-Upstream": "yes"})
    body = await request.read()
    return web.json_response({"method": request.method, "path": request.raw_path,
                              "host": request.host, "len": len(body)})


def cut_after(first: bytes, content_type: str, content_length: int | None = None
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An upstream that starts its response, sends `first` and then drops the connection."""
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        if content_length is not None:
            resp.content_length = content_length
        await resp.prepare(request)
        await resp.write(first)
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.abort()
        return resp

    return handler


async def test_request_is_forwarded_verbatim_with_the_upstreams_host(tmp_path):
    seen: list[RawRequest] = []
    async with serving(app_with(_echo, seen)) as up, gateway([up], str(tmp_path)) as gw:
        body = b'{"z": "\xc3\xa9", "a": [1,2]}'
        headers = {"X-Custom-Case": "Keep", "authorization": "Bearer sk-test",
                   "Content-Type": "application/json", "Connection": "keep-alive",
                   "Keep-Alive": "timeout=5", "TE": "trailers"}
        async with httpx2.AsyncClient() as c:
            direct = await c.post(up + "/v1/x%2Fy?q=a%20b&q=2", content=body, headers=headers)
            proxied = await c.post(gw.url + "/v1/x%2Fy?q=a%20b&q=2", content=body,
                                   headers=headers)
        assert proxied.status_code == direct.status_code == 200
        assert proxied.json() == direct.json()
        a, b = seen
        assert b.comparable() == a.comparable()
        # the upstream's own Host (MCP servers refuse a foreign one), not the gateway's
        host = dict((k.lower(), v) for k, v in b.headers)[b"host"]
        assert host == up.removeprefix("http://").encode()
        names = [k.lower() for k, _ in b.headers]
        assert b"keep-alive" not in names and b"te" not in names
        assert b"x-custom-case" in names and b"X-Custom-Case" in [k for k, _ in b.headers]
        # aiohttp must not invent headers the client did not send
        assert b"user-agent" in names  # httpx2 sent one
        ex, = await gw.close()
        assert ex.request.url == up + "/v1/x%2Fy?q=a%20b&q=2"
        assert ex.route is None
        assert ex.request.body == body
        assert ex.response is not None and ex.response.status == 200
        assert json.loads(ex.response.body) == direct.json()
        # secrets never reach disk: the authorization header is redacted
        auth = [v for k, v in ex.request.headers if k.lower() == "authorization"]
        assert auth and "sk-test" not in auth[0]


async def test_no_invented_headers(tmp_path):
    seen: list[RawRequest] = []
    async with serving(app_with(_echo, seen)) as up, gateway([up], str(tmp_path)) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.gateway.port)
        writer.write(b"POST /bare HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        writer.close()
    names = [k.lower() for k, _ in seen[0].headers]
    assert names == [b"host", b"content-length"]
    assert seen[0].body == b"abc"


async def test_sse_chunks_keep_their_spacing(tmp_path):
    async with serving(app_with(_echo)) as up, gateway([up], str(tmp_path)) as gw:
        arrivals: list[float] = []
        async with httpx2.AsyncClient() as c:
            t0 = time.perf_counter()
            async with c.stream("GET", gw.url + "/sse?n=5&gap=0.1") as resp:
                async for _ in resp.aiter_raw():
                    arrivals.append(time.perf_counter() - t0)
        assert len(arrivals) == 5  # one network chunk per event: nothing was coalesced
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        # a buffering proxy would deliver everything at once (gaps ~0)
        assert all(g > 0.05 for g in gaps), gaps
        assert arrivals[0] < 0.09, arrivals
        ex, = await gw.close()
        assert ex.response is not None and ex.response.chunks is not None
        offsets = [c.offset_ms for c in ex.response.chunks]
        assert len(offsets) == 5 and offsets[-1] - offsets[0] > 300
        assert ex.response.body == b"".join(c.data for c in ex.response.chunks)


async def test_compressed_chunked_and_large_bodies_pass_untouched(tmp_path):
    big = 6 * 1024 * 1024  # over INLINE_BODY: the upload is streamed through, not read whole
    async with serving(app_with(_echo)) as up, \
            gateway([up], str(tmp_path), max_capture=256 * 1024) as gw:
        async with httpx2.AsyncClient(timeout=60) as c:
            d = await c.get(up + "/gzip")
            p = await c.get(gw.url + "/gzip")
            assert p.headers["content-encoding"] == "gzip"
            assert p.headers["content-length"] == d.headers["content-length"]
            assert p.content == d.content  # decoded by the client, so the bytes were intact
            async with c.stream("GET", gw.url + "/gzip") as raw:
                wire = b"".join([x async for x in raw.aiter_raw()])
            assert wire == gzip.compress(b"compressed " * 1000) or gzip.decompress(wire) == (
                b"compressed " * 1000)

            ch = await c.get(gw.url + "/chunked")
            assert ch.json() == {"a": 1, "b": [1, 2]}
            assert ch.headers.get("transfer-encoding") == "chunked"

            upload = os.urandom(big)
            r = await c.put(gw.url + "/upload", content=upload)
            assert r.json()["len"] == big
            r = await c.get(gw.url + f"/big?size={big}")
            assert len(r.content) == big
        recorded = await gw.close()
    by_path = {ex.request.url.split("/", 3)[3]: ex for ex in recorded}
    gz = by_path["gzip"]
    assert gz.response is not None and gzip.decompress(gz.response.body) == b"compressed " * 1000
    # bodies over the capture limit are recorded in part and say so; traffic was whole
    assert any("over" in p for p in by_path["upload"].problems)
    assert len(by_path["upload"].request.body) < big


async def test_keep_alive_connection_is_reused(tmp_path):
    seen: list[RawRequest] = []
    async with serving(app_with(_echo, seen)) as up, gateway([up], str(tmp_path)) as gw, \
            httpx2.AsyncClient() as c:
            for _ in range(5):
                assert (await c.get(gw.url + "/k")).status_code == 200
    assert len({r.peer for r in seen}) == 1  # one upstream connection for all five


async def test_upstream_status_and_failures_reach_the_client_and_are_recorded(tmp_path):
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.Response(text="late")

    reset = cut_after(b"data: 1\n\n", "text/event-stream")

    from proxy.forward import Timeouts

    dead = f"http://127.0.0.1:{free_port()}"
    async with serving(app_with(_echo)) as up, serving(app_with(slow)) as slow_up, \
            serving(app_with(reset)) as reset_up, \
            gateway([up, f"dead={dead}", f"slow={slow_up}", f"reset={reset_up}"],
                    str(tmp_path), timeouts=Timeouts(connect=2, read=0.3)) as gw:
        async with httpx2.AsyncClient() as c:
            r = await c.get(gw.url + "/status?code=503")
            assert (r.status_code, r.text, r.headers["x-upstream"]) == (503, "upstream says no",
                                                                         "yes")
            r = await c.get(gw.url + "/dead/v1")
            assert r.status_code == 502
            assert r.headers["x-deploysim-error"] == "refused"
            assert "could not get a response" in r.json()["error"]["message"]
            r = await c.get(gw.url + "/slow/")
            assert r.status_code == 504 and r.headers["x-deploysim-error"] == "timeout"
            with pytest.raises(httpx2.HTTPError):  # a broken stream must not look complete
                async with c.stream("GET", gw.url + "/reset/") as resp:
                    async for _ in resp.aiter_raw():
                        pass
        metrics = gw.metrics.snapshot()
        recorded = await gw.close()
    assert metrics["upstream_errors"] == {"refused": 1, "timeout": 1, "reset": 1}
    errors = {ex.route: ex.error for ex in recorded}
    assert errors[None] is None
    assert errors["dead"] is not None and errors["dead"].startswith("refused")
    assert errors["slow"] is not None and errors["slow"].startswith("timeout")
    assert errors["reset"] is not None and "after the response started" in errors["reset"]
    broken = next(ex for ex in recorded if ex.route == "reset")
    assert broken.response is not None and broken.response.body == b"data: 1\n\n"


async def test_head_and_bodiless_statuses(tmp_path):
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/nocontent":
            return web.Response(status=204, headers={"X-Kept": "1"})
        if request.path == "/notmodified":
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=b"x" * 100, content_type="text/plain")

    async with serving(app_with(handler)) as up, gateway([up], str(tmp_path)) as gw, \
            httpx2.AsyncClient() as c:
        h = await c.head(gw.url + "/doc")
        assert h.status_code == 200 and h.headers["content-length"] == "100" and h.content == b""
        n = await c.get(gw.url + "/nocontent")
        assert n.status_code == 204 and n.headers["x-kept"] == "1"
        m = await c.get(gw.url + "/notmodified", headers={"If-None-Match": '"v1"'})
        assert m.status_code == 304 and m.headers["etag"] == '"v1"'
        g = await c.get(gw.url + "/doc")  # the connection is still usable afterwards
        assert g.content == b"x" * 100
        recorded = await gw.close()
    assert [ex.response.status for ex in recorded if ex.response] == [200, 204, 304, 200]


async def test_a_stream_cut_by_shutdown_is_recorded_as_such(tmp_path):
    async with serving(app_with(_echo)) as up, \
            gateway([up], str(tmp_path), shutdown_grace=0.3) as gw:
        got: list[bytes] = []

        async def read() -> None:
            async with httpx2.AsyncClient() as c, \
                    c.stream("GET", gw.url + "/sse?n=50&gap=0.1") as resp:
                async for chunk in resp.aiter_raw():
                    got.append(chunk)

        reader = asyncio.ensure_future(read())
        while not got:
            await asyncio.sleep(0.02)
        recorded = await gw.close()
        with contextlib.suppress(httpx2.HTTPError):
            await reader
    ex, = recorded
    assert ex.error is not None and ex.error.startswith("proxy_shutdown")
    assert ex.response is not None and 1 <= len(ex.response.chunks or []) < 50


async def test_an_upstream_base_path_is_recorded_so_tools_are_named_as_the_agent_called_them(
        tmp_path):
    seen: list[RawRequest] = []
    async with serving(app_with(_echo, seen)) as up, \
            gateway([f"crm={up}/api/v2/"], str(tmp_path)) as gw:
        async with httpx2.AsyncClient() as c:
            r = await c.get(gw.url + "/crm/customers/7?full=1")
        assert r.status_code == 200 and r.json()["path"] == "/api/v2/customers/7?full=1"
        ex, = await gw.close()
    assert ex.request.url == up + "/api/v2/customers/7?full=1"
    assert ex.labels["upstream_path"] == "/api/v2"
    from recorder.protocols.http_tool import tool_path

    assert tool_path(ex) == "/customers/7"


async def test_a_sized_body_cut_short_breaks_the_client_connection_and_is_recorded(tmp_path):
    # a small sized body: the gateway reads it whole before relaying it
    short = cut_after(b'{"partial": ', "application/json", content_length=1000)

    async with serving(app_with(short)) as up, gateway([up], str(tmp_path)) as gw:
        async with httpx2.AsyncClient() as c:
            with pytest.raises(httpx2.HTTPError):  # never a 200 with a truncated body
                await c.get(gw.url + "/v1/x")
        metrics = gw.metrics.snapshot()
        ex, = await gw.close()
    assert metrics["upstream_errors"] == {"reset": 1}
    assert ex.response is not None and ex.response.status == 200
    assert ex.error is not None and ex.error.startswith("reset")
    assert "after the response started" in ex.error


def _encoded(coding: str, data: bytes) -> bytes:
    import zlib

    import brotli
    import zstandard

    return {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
            "zstd": zstandard.ZstdCompressor().compress}[coding](data)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd", "not-really-gzip"])
async def test_encoded_request_bodies_reach_the_upstream_byte_for_byte(tmp_path, coding):
    """The gateway's server once decoded request bodies and sent the upstream the first
    Content-Length bytes of the decoded body, still labelled gzip (and a 500 for bad gzip)."""
    log: list[RawRequest] = []
    plain = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi " * 500}]})
    body = _encoded(coding, plain.encode()) if coding != "not-really-gzip" else b"\x1f\x8bnope"
    label = "gzip" if coding == "not-really-gzip" else coding
    async with serving(app_with(_echo, log), raw_bodies=True) as up, \
            gateway([up], str(tmp_path)) as gw:
        async with httpx2.AsyncClient() as client:
            r = await client.post(f"{gw.url}/v1/chat/completions", content=body,
                                  headers={"Content-Encoding": label,
                                           "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["len"] == len(body)
        recorded = await gw.close()
    assert log[0].body == body
    assert dict((k.lower(), v) for k, v in log[0].headers)[b"content-encoding"] == label.encode()
    ex, = recorded
    assert ex.request.body == body  # stored as on the wire; readers decode their own copy


async def test_two_hundred_request_headers_are_forwarded(tmp_path):
    log: list[RawRequest] = []
    extra = [(f"X-Trace-{i}", f"v{i}") for i in range(200)]
    async with serving(app_with(_echo, log)) as up, gateway([up], str(tmp_path)) as gw:
        async with httpx2.AsyncClient() as client:
            r = await client.get(f"{gw.url}/v1/models", headers=extra)
        assert r.status_code == 200
        recorded = await gw.close()
    got = [(k.decode(), v.decode()) for k, v in log[0].headers if k.startswith(b"X-Trace-")]
    assert got == extra
    assert len([h for h in recorded[0].request.headers if h[0].startswith("X-Trace-")]) == 200


async def test_a_client_leaving_an_sse_stream_is_recorded_without_a_traceback(tmp_path, caplog):
    async with serving(app_with(_echo)) as up, gateway([up], str(tmp_path)) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.gateway.port)
        writer.write(b"GET /sse?n=50&gap=0.02 HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b"data:")  # the stream is flowing
        writer.transport.abort()  # the client closes it mid-stream (a reset)
        for _ in range(200):
            if gw.metrics.forwarded:
                break
            await asyncio.sleep(0.02)
        async with httpx2.AsyncClient() as client:  # other traffic is unaffected
            assert (await client.get(f"{gw.url}/v1/models")).status_code == 200
        recorded = await gw.close()
    cut = next(ex for ex in recorded if "/sse" in ex.request.url)
    assert cut.error is not None and cut.error.startswith("client_disconnected")
    assert len(recorded) == 2
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


async def test_a_client_leaving_just_before_the_stream_ends_is_recorded(tmp_path, caplog):
    """The last bytes go out with `write_eof`; a client that left before it once escaped as a
    traceback and the exchange was neither recorded nor counted."""
    async def answer_then_pause(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'event: message\ndata: {"jsonrpc": "2.0", "id": 1, "result": {}}\n\n')
        await asyncio.sleep(0.3)  # the client has what it wanted and leaves meanwhile
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    async with serving(app_with(answer_then_pause)) as up, gateway([up], str(tmp_path)) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.gateway.port)
        writer.write(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.readuntil(b"\n\n")
        writer.transport.abort()
        for _ in range(100):
            if gw.metrics.forwarded:
                break
            await asyncio.sleep(0.02)
        recorded = await gw.close()
    ex, = recorded
    assert ex.error is not None and ex.error.startswith("client_disconnected")
    assert b'"result"' in ex.response.body if ex.response else False
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text

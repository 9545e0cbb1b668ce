"""The fake model server's HTTP/1.1 layer, spoken to byte by byte (the SDK tests in
test_fake_model.py drive it with real clients)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import openai

from replayer.testing.http_server import HttpServer, Request, Response, StreamResponse


async def _echo(request: Request) -> Response | StreamResponse | None:
    if request.path == "/drop":
        request.close_connection()
        return None
    if request.path == "/stream":
        return StreamResponse(200, (f"data: {i}\n\n".encode() for i in range(3)),
                              {"Content-Type": "text/event-stream"})
    if request.path == "/slow":
        await asyncio.sleep(0.05)
    body = json.dumps({"method": request.method, "path": request.path, "query": request.query,
                       "body": request.body.decode(), "x": request.headers.get("x-test")})
    return Response(200, body.encode(), "application/json", {"X-Served": "yes"})


async def _exchange(port: int, data: bytes, *, until_close: bool = False,
                    responses: int = 1) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = b""
    if until_close:
        out = await asyncio.wait_for(reader.read(), 5)
    else:
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            out += head + await reader.readexactly(length)
    writer.close()
    return out


def _bodies(raw: bytes) -> list[dict[str, object]]:
    return [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in
            raw.split(b"HTTP/1.1 ")[1:]]


async def test_lengths_chunks_pipelining_and_continue() -> None:
    server = HttpServer(_echo)
    port = await server.start("127.0.0.1", 0)
    try:
        one = await _exchange(port, b"POST /a?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: 1\r\n"
                                    b"Content-Length: 5\r\n\r\nhello")
        assert one.startswith(b"HTTP/1.1 200 OK\r\n") and b"X-Served: yes\r\n" in one
        assert _bodies(one) == [{"method": "POST", "path": "/a", "query": "q=1",
                                 "body": "hello", "x": "1"}]
        # a chunked body (with an extension and a trailer), then a pipelined second request
        # that arrives before the first (slow) one is answered: answers keep their order
        chunked = (b"POST /slow HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
                   b"GET /b HTTP/1.1\r\nX-Test: 2\r\n\r\n")
        both = _bodies(await _exchange(port, chunked, responses=2))
        assert [b["path"] for b in both] == ["/slow", "/b"] and both[0]["body"] == "abcde"
        # Expect: 100-continue gets its interim answer before the body is sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == \
            b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"ok")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
        writer.close()
    finally:
        await server.stop()


async def test_streams_closes_and_refuses() -> None:
    server = HttpServer(_echo)
    port = await server.start("127.0.0.1", 0)
    try:
        stream = await _exchange(port, b"GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n",
                                 until_close=True)
        assert b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" in stream
        assert stream.endswith(b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n"
                               b"0\r\n\r\n")
        assert await _exchange(port, b"GET /drop HTTP/1.1\r\n\r\n", until_close=True) == b""
        bad = await _exchange(port, b"NONSENSE\r\n\r\n", until_close=True)
        assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        # HTTP/1.0 closes after the answer unless asked to keep the connection
        old = await _exchange(port, b"GET /d HTTP/1.0\r\n\r\n", until_close=True)
        assert b"Connection: close" in old and _bodies(old)[0]["path"] == "/d"
    finally:
        await server.stop()


def test_the_fake_model_from_a_shell_on_uvloop_serves_the_openai_sdk() -> None:
    """`python -m replayer.testing.fake_model` runs on the CLI's loop (uvloop), whose
    transports differ from asyncio's: one real request and one stream through it."""
    proc = subprocess.Popen([sys.executable, "-m", "replayer.testing.fake_model", "--policy",
                             "rule-agent"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["openai_url"]
        client = openai.OpenAI(base_url=url, api_key="sim", max_retries=0)
        reply = client.chat.completions.create(
            model="sim-candidate", messages=[{"role": "user", "content": "hello there"}])
        assert reply.choices[0].message.content
        chunks = list(client.chat.completions.create(
            model="sim-candidate", stream=True,
            messages=[{"role": "user", "content": "hello there"}]))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
            reply.choices[0].message.content
        assert [m.id for m in client.models.list().data] == ["sim-deployed", "sim-candidate"]
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


async def _failing_stream(request: Request) -> Response | StreamResponse | None:
    def chunks() -> object:
        yield b"data: 0\n\n"
        raise RuntimeError("render bug")

    return StreamResponse(200, chunks(), {"Content-Type": "text/event-stream"})  # type: ignore[arg-type]


async def test_bad_lengths_are_refused_not_looped_on_and_a_failed_reply_drops_the_line() -> None:
    server = HttpServer(_echo, max_body=64)
    port = await server.start("127.0.0.1", 0)
    try:
        # lengths and chunk sizes `int` would take but HTTP does not: 400, at once
        for head in (b"Content-Length: -100000\r\n\r\n", b"Content-Length: +5\r\n\r\nhello",
                     b"Content-Length: 5_0\r\n\r\n",
                     b"Transfer-Encoding: chunked\r\n\r\n-6\r\nabc\r\n0\r\n\r\n",
                     b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"):
            bad = await _exchange(port, b"POST /a HTTP/1.1\r\n" + head, until_close=True)
            assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n"), head
        # a chunked body past the limit: 413, before it has all arrived
        big = await _exchange(port, b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"41\r\n" + b"x" * 65 + b"\r\n", until_close=True)
        assert big.startswith(b"HTTP/1.1 413 ")
    finally:
        await server.stop()
    server = HttpServer(_failing_stream)
    port = await server.start("127.0.0.1", 0)
    try:  # the connection is dropped, not left waiting for the rest of the stream
        cut = await _exchange(port, b"GET /s HTTP/1.1\r\n\r\n", until_close=True)
        assert cut.startswith(b"HTTP/1.1 200 OK") and not cut.endswith(b"0\r\n\r\n")
    finally:
        await server.stop()

"""The replayer's HTTP/1.1 client against aiohttp's server (the reference) and byte-level
servers for what aiohttp does not send (interim answers, bodies that run until close)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import ipaddress
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from replayer.clients.http11 import ConnectionPool, HttpProtocolError


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[str]]]:
    peers: list[str] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        peers.append(str(request.transport.get_extra_info("peername")))  # type: ignore[union-attr]
        body = await request.read()
        kind = request.match_info["kind"]
        if kind == "gzip":
            return web.Response(body=gzip.compress(body), headers={"Content-Encoding": "gzip"})
        if kind == "deflate":
            return web.Response(body=zlib.compress(body), headers={"Content-Encoding": "deflate"})
        if kind == "chunked":
            resp = web.StreamResponse(headers={"X-Kind": "chunked"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(body), 3):
                await resp.write(body[i:i + 3])
            await resp.write_eof()
            return resp
        if kind == "close":
            return web.Response(body=body, headers={"Connection": "close"})
        if kind == "slow":
            await asyncio.sleep(1)
        if kind == "status":
            return web.Response(status=429, body=b'{"error":{}}', headers={"Retry-After": "2"})
        return web.Response(body=body, headers={"X-Echo": request.headers.get("X-Key", "")})

    app = web.Application()
    app.router.add_post("/v1/{kind}", echo)
    runner, url = await _serve(app)
    yield url, peers
    await runner.cleanup()


async def test_bodies_encodings_keep_alive_and_status(upstream):
    url, peers = upstream
    pool = ConnectionPool(url + "/v1", {"X-Key": "k1"}, limit=4)
    body = b'{"x":"' + b"abc" * 50 + b'"}'
    for kind in ("plain", "gzip", "deflate", "chunked", "plain"):
        status, headers, got = await pool.post(f"/v1/{kind}", body, timeout=5)
        assert (status, got) == (200, body), kind
    assert headers["x-echo"] == "k1"  # lower-cased names; our headers were sent
    assert len(set(peers)) == 1  # one kept-alive connection served all five
    status, headers, _ = await pool.post("/v1/status", b"{}", timeout=5)
    assert status == 429 and headers["retry-after"] == "2"
    # the server closes after this one: the next request opens a new connection
    assert (await pool.post("/v1/close", b"{}", timeout=5))[2] == b"{}"
    await pool.post("/v1/plain", b"{}", timeout=5)
    assert len(set(peers)) == 2
    # concurrent requests take at most `limit` connections, and all get their own answer
    answers = await asyncio.gather(*(pool.post("/v1/plain", b"%d" % i, timeout=5)
                                     for i in range(20)))
    assert [a[2] for a in answers] == [b"%d" % i for i in range(20)]
    assert len(set(peers)) <= 2 + 4
    with pytest.raises(TimeoutError):
        await pool.post("/v1/slow", b"{}", timeout=0.1)
    assert (await pool.post("/v1/plain", b"after", timeout=5))[2] == b"after"
    await pool.close()
    # one slot: a request waiting for it times out with the rest of its budget; the slot
    # goes on to the next in line when the first answer comes
    single = ConnectionPool(url + "/v1", {}, limit=1)
    slow = asyncio.ensure_future(single.post("/v1/slow", b"1", timeout=5))
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await single.post("/v1/plain", b"2", timeout=0.1)
    queued = asyncio.ensure_future(single.post("/v1/plain", b"3", timeout=5))
    assert (await slow)[2] == b"1" and (await queued)[2] == b"3"
    assert single._active == 0 and not single._waiters and not single._deadlines
    await single.close()


async def _raw_server(answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                       Awaitable[None]]) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_interim_answers_bodies_until_close_and_broken_answers():
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        if b"/interim" in request:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                         b"Content-Length: 2\r\n\r\nok")
        elif b"/until-close" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":")
            await writer.drain()
            writer.write(b"1}")
        elif b"/cut" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        elif b"/garbage" in request:
            writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        elif b"/trailers" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"2;x=y\r\nhi\r\n0\r\nX-Trailer: 1\r\n\r\n")
        await writer.drain()
        writer.close()

    server, url = await _raw_server(answer)
    pool = ConnectionPool(url, {}, limit=2)
    assert (await pool.post("/interim", b"", timeout=5))[::2] == (200, b"ok")
    assert (await pool.post("/until-close", b"", timeout=5))[2] == b'{"a":1}'
    assert (await pool.post("/trailers", b"", timeout=5))[2] == b"hi"
    with pytest.raises(HttpProtocolError, match="middle of the answer"):
        await pool.post("/cut", b"", timeout=5)
    with pytest.raises(HttpProtocolError, match="not an HTTP"):
        await pool.post("/garbage", b"", timeout=5)
    await pool.close()
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):  # nobody listens any more
        await ConnectionPool(url, {}).post("/x", b"", timeout=5)


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    served = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % served)
        await writer.drain()
        writer.close()  # closes without saying so (no Connection: close)

    server, url = await _raw_server(answer)
    pool = ConnectionPool(url, {})
    assert (await pool.post("/", b"", timeout=5))[2] == b"1"
    await asyncio.sleep(0.05)  # the close arrives while the connection is idle
    assert (await pool.post("/", b"", timeout=5))[2] == b"2"
    # no pause: the request may go out on the connection as its close arrives; then it is
    # sent again on a fresh one, never failed
    for n in range(3, 8):
        assert (await pool.post("/", b"", timeout=5))[2] == b"%d" % n
    await pool.close()
    server.close()


async def test_https_with_a_certificate_the_environment_trusts(tmp_path, monkeypatch):
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deploysim test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_path, key_path)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/v1/x", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with pytest.raises(ssl.SSLError):  # not trusted: refused
            await ConnectionPool(f"https://127.0.0.1:{port}", {}).post("/v1/x", b"", timeout=5)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
        pool = ConnectionPool(f"https://127.0.0.1:{port}", {})
        assert (await pool.post("/v1/x", b"secret", timeout=5))[2] == b"secret"
        await pool.close()
    finally:
        await runner.cleanup()

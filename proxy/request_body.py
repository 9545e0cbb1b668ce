"""A request body as its sender meant it: the gateway leaves bodies content-encoded (so a
forwarded request reaches the upstream byte for byte), and handlers that answer a request
themselves (replay, serve) decode their own copy here."""

from __future__ import annotations

from aiohttp import web

from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of


async def decoded_body(request: web.Request) -> bytes:
    """The request body with its Content-Encoding undone; the raw bytes when they do not
    decode (the caller's parser then reports them as it would any malformed body)."""
    raw = await request.read()
    coding = request.headers.get("Content-Encoding")
    if not raw or not coding:
        return raw
    try:
        return decode_body(raw, encodings_of([("content-encoding", coding)]))
    except BodyDecodeError:
        return raw

"""What the wire tests share: one response read by a recording and by a replay.

(A uniquely named module, as `replay_helpers`, so `from wire_helpers import ...` is never
ambiguous across test folders.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from recorder.protocols import parse_exchange
from recorder.session import ContentPart, Message
from recorder.testing import make_exchange
from replayer.clients import make_client

ASK = [Message(role="user", content=[ContentPart(text="hi")])]


@dataclass(frozen=True)
class WireFormat:
    """One wire format as the tests read it on both sides."""

    url: str
    """Where its calls are recorded."""
    request: dict[str, Any]
    """The request every recorded response answers."""
    counts: Callable[[Any], dict[str, int]]
    """The format's `token_counts`: a response's usage as a replay's neutral counts."""
    stream_url: str | None = None
    """Where a streamed call goes, when the URL says it streams (Gemini); otherwise the
    request asks with `"stream": true`."""

    def recorded(self, response: dict[str, Any] | None = None,
                 chunks: list[bytes] | None = None) -> list[Message]:
        """What recording makes of a response (JSON, or SSE when `chunks`): the protocol
        parser's messages, as sessions get them; the parse must find no problem."""
        url, request = self.url, self.request
        if chunks is not None and self.stream_url is not None:
            url = self.stream_url
        elif chunks is not None:
            request = {**request, "stream": True}
        parsed = parse_exchange(make_exchange(url, request_json=request, response_json=response,
                                              chunks=chunks))
        assert parsed.llm is not None and parsed.llm.error is None, parsed.problems
        assert parsed.problems == []
        return [m.to_model() for m in parsed.llm.outputs]

    def as_replayed(self, message: Message, usage: Any) -> Message:
        """A recorded message as a replay holds it: generated, no exchange, the usage as the
        neutral counts replay accounting adds up."""
        return message.model_copy(update={"origin": "generated", "exchange_id": None,
                                          "usage": self.counts(usage)})


def pieces(text: str | None, cuts: list[int]) -> list[str]:
    """`text` cut after each of `cuts` characters in turn (nothing for no text)."""
    if not text:
        return []
    out, pos = [], 0
    for c in cuts:
        if pos + c >= len(text):
            break
        out.append(text[pos:pos + c])
        pos += c
    return [*out, text[pos:]]


def split(data: bytes, cuts: list[int], scale: int) -> list[bytes]:
    """`data` as network chunks cut after each of `cuts` × `scale` bytes in turn."""
    out, pos = [], 0
    for c in cuts:
        out.append(data[pos:pos + c * scale])
        pos += c * scale
    return [*out, data[pos:]]


async def served_reply(api: str, model: str, path: str, base: str, body: bytes) -> Message:
    """The replayer's `api` client asking a loopback server that answers `POST path` with
    the JSON `body`; `base` is what follows the server's address in the base URL."""
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post(path, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = make_client(api, model, f"http://127.0.0.1:{runner.addresses[0][1]}{base}",
                         api_key="k")
    try:
        return await client.complete(ASK)
    finally:
        await client.close()
        await runner.cleanup()

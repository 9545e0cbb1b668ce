"""What the request path hands to the recorder: raw pieces, turned into an `Exchange` later.

Building and validating the pydantic `Exchange` costs tens of microseconds; doing it on the
writer thread keeps the request path down to filling in this plain object. A bug in that
conversion then surfaces as a counted record error instead of an error seen by the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from recorder.exchange import Exchange, Header, HttpRequest, HttpResponse, StreamChunk

RawHeader = tuple[bytes | str, bytes | str]
"""A header as the transport gave it: bytes from aiohttp or mitmproxy, str from elsewhere."""


@dataclass(slots=True)
class Capture:
    """One exchange as seen by a proxy, in raw form; `to_exchange` makes the record."""

    method: str
    url: str
    started_at: float
    """Unix time the request arrived."""
    request_headers: Sequence[RawHeader] = ()
    request_body: bytes = b""
    transport: Literal["http", "stdio"] = "http"
    route: str | None = None
    ended_at: float = 0.0
    status: int | None = None
    """Response status; None when no response came back."""
    reason: str = ""
    response_headers: Sequence[RawHeader] = ()
    response_body: bytes = b""
    """The whole body of a response that was not streamed."""
    chunks: list[tuple[float, bytes]] | None = None
    """(offset ms, bytes) of each chunk of a streamed response, in arrival order."""
    error: str | None = None
    session_hint: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_exchange(self, exchange_id: str) -> Exchange:
        """The cassette record for this capture (not yet redacted)."""
        response = None
        if self.status is not None:
            if self.chunks is not None:
                body = b"".join(data for _, data in self.chunks)
                chunks: list[StreamChunk] | None = [
                    StreamChunk(offset_ms=offset, data=data) for offset, data in self.chunks
                ]
            else:
                body, chunks = self.response_body, None
            response = HttpResponse(
                status=self.status,
                reason=self.reason,
                headers=decode_headers(self.response_headers),
                body=body,
                chunks=chunks,
            )
        return Exchange(
            id=exchange_id,
            transport=self.transport,
            route=self.route,
            started_at=self.started_at,
            ended_at=self.ended_at or self.started_at,
            request=HttpRequest(
                method=self.method,
                url=self.url,
                headers=decode_headers(self.request_headers),
                body=self.request_body,
            ),
            response=response,
            error=self.error,
            session_hint=self.session_hint,
            labels=self.labels,
            problems=self.problems,
        )


def decode_headers(raw: Sequence[RawHeader]) -> list[Header]:
    """Header bytes as text: UTF-8 when valid, else Latin-1 (which keeps every byte)."""
    return [(_text(name), _text(value)) for name, value in raw]


def _text(value: bytes | str) -> str:
    """Header bytes as text: UTF-8 when valid (aiohttp writes headers back as UTF-8, so
    they round-trip exactly), else Latin-1."""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def header_value(raw: Sequence[RawHeader], name: bytes) -> str | None:
    """The first value of header `name` (lower-case bytes) in a raw header list, or None."""
    for key, value in raw:
        k = key if isinstance(key, bytes) else key.encode("latin-1")
        if k.lower() == name:
            return _text(value)
    return None

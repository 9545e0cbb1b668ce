"""What the request path hands to the recorder: raw pieces, turned into an `Exchange` later.

Building and validating the pydantic `Exchange` costs tens of microseconds; doing it on the
writer thread keeps the request path down to filling in this plain object. A bug in that
conversion then surfaces as a counted record error instead of an error seen by the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from recorder.exchange import Exchange, Header, HttpRequest, HttpResponse, StreamChunk

RawHeader = tuple[bytes | str, bytes | str]
"""A header as the transport gave it: bytes from aiohttp or mitmproxy, str from elsewhere."""
DEFAULT_MAX_CAPTURE = 32 * 1024 * 1024
"""Bytes of one body kept for the cassette; the traffic itself is never cut."""


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """What every recording edge (the gateway's forwarder, the mitmproxy addon) reads from a
    request into its capture, and how much of a body it keeps."""

    session_header: str = "X-Deploysim-Session"
    """Names the session a request belongs to (the recorder threads by it)."""
    segment_header: str = "X-Deploysim-Segment"
    """Its value becomes the capture's `segment` label."""
    max_capture: int = DEFAULT_MAX_CAPTURE
    """Bytes of one body kept for the cassette; the traffic itself is never cut."""

    def session_hint(self, headers: Mapping[str, str]) -> str | None:
        return headers.get(self.session_header)

    def labels(self, headers: Mapping[str, str], labels: dict[str, str]) -> dict[str, str]:
        """`labels` (the edge's own) plus the request's segment, when it names one."""
        segment = headers.get(self.segment_header)
        if segment is not None:
            labels["segment"] = segment
        return labels


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

    def truncated(self, what: str, limit: int) -> None:
        """Note that only the first `limit` bytes of the `what` ("request", "response") body
        were kept."""
        self.problems.append(f"{what} body over {limit} bytes; only the first part was recorded")

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

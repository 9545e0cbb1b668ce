"""The raw exchange: one request/response exactly as seen on the wire, never rewritten."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Header = tuple[str, str]
"""One header line as sent: name with its original case, then value. Order and repeats kept."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StreamChunk(_Frozen):
    """One chunk of a streamed response body, as it arrived."""

    offset_ms: float
    """Milliseconds from the start of the exchange to this chunk's arrival."""
    data: bytes
    """The chunk's bytes as received (after transfer decoding, before content decoding)."""


class HttpRequest(_Frozen):
    """The request side of an exchange."""

    method: str
    """HTTP method, or `STDIO` for a JSON-RPC line on a stdio transport."""
    url: str
    """Absolute upstream URL (http) or `stdio:COMMAND` (stdio)."""
    headers: list[Header] = Field(default_factory=list)
    """Request headers in wire order, redacted."""
    body: bytes = b""
    """Raw request body as sent (content-encoded if the client encoded it), redacted."""


class HttpResponse(_Frozen):
    """The response side of an exchange."""

    status: int
    """HTTP status code (200 for a stdio reply)."""
    reason: str = ""
    """HTTP reason phrase, if any."""
    headers: list[Header] = Field(default_factory=list)
    """Response headers in wire order, redacted."""
    body: bytes = b""
    """The whole body when not streamed; the chunks joined when streamed."""
    chunks: list[StreamChunk] | None = None
    """For streamed responses: every chunk with its arrival offset; None when not streamed."""


class Exchange(_Frozen):
    """One raw HTTP (or stdio JSON-RPC) request/response with timings: the ground truth."""

    kind: Literal["exchange"] = "exchange"
    """Record tag."""
    id: str
    """Unique id of this exchange within the corpus."""
    transport: Literal["http", "stdio"] = "http"
    """How the exchange travelled."""
    route: str | None = None
    """Name of the upstream it was recorded under (`None` for the unnamed upstream at `/`)."""
    started_at: float
    """Unix time (seconds) when the request started."""
    ended_at: float
    """Unix time (seconds) when the response ended (or the exchange failed)."""
    request: HttpRequest
    """What the client sent."""
    response: HttpResponse | None = None
    """What came back; None when the upstream failed before answering."""
    error: str | None = None
    """Upstream failure (refused, timeout, reset) when there was no response."""
    session_hint: str | None = None
    """Session id from an explicit session header, if the client sent one."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels known at capture time (segment header, proxy mode, ...)."""
    problems: list[str] = Field(default_factory=list)
    """Problems found while capturing or parsing this exchange (kept raw, never dropped)."""

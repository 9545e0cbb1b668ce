"""What a protocol parser returns: provider-neutral structures for one exchange.

`Parsed` carries the protocol name, the problems found (never raised), and one of: an LLM call
(`LlmCall`), the MCP JSON-RPC traffic of the exchange (`McpTraffic`), or an HTTP tool call
(`HttpToolCall`). These are in-memory results, re-derived from raw exchanges whenever needed,
so they are plain dataclasses rather than on-disk pydantic models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from recorder.fastjson import MISS, loads, try_loads
from recorder.protocols.light import LMessage
from recorder.session import ToolDef

Protocol = Literal[
    "openai_chat", "openai_responses", "anthropic_messages", "gemini", "mcp", "http_tool",
    "other"
]


@dataclass
class LlmCall:
    """One model call, provider-neutral."""

    api: str
    """openai_chat | openai_responses | anthropic_messages | gemini."""
    model: str | None
    """The model the request asked for (the source model)."""
    messages: list[LMessage]
    """The conversation the request sent, system prompt first (for the Responses API with a
    `previous_response_id`, only the new input items; threading prepends the chain)."""
    outputs: list[LMessage] = field(default_factory=list)
    """The assistant message of each choice (one unless `n>1`); empty when the call failed."""
    tools: list[ToolDef] = field(default_factory=list)
    """Tool definitions offered."""
    params: dict[str, Any] = field(default_factory=dict)
    """Other request parameters (model, temperature, max tokens, ...)."""
    stream: bool = False
    """Whether the response was streamed."""
    response_id: str | None = None
    """Provider id of the response (chatcmpl-..., resp_..., msg_...)."""
    previous_response_id: str | None = None
    """Responses API: the response this request continues."""
    error: str | None = None
    """Why the call produced no answer (HTTP status, upstream failure, stream error event)."""
    native: dict[str, Any] | None = None
    """The provider's own final response object (streams reassembled the way the SDK does)."""


@dataclass
class McpMessage:
    """One JSON-RPC message."""

    kind: Literal["request", "notification", "result", "error"]
    id: Any = None
    method: str | None = None
    params: dict[str, Any] | None = None
    """Request params without `_meta`."""
    meta: dict[str, Any] | None = None
    """The request's `_meta` (2026-07-28 protocol version, client info, ...)."""
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass
class McpCall:
    """A client request paired with the server's reply (result or error), if any."""

    request: McpMessage
    reply: McpMessage | None = None


@dataclass
class McpTraffic:
    """The MCP JSON-RPC traffic of one exchange (one POST, or one stdio line and its reply)."""

    calls: list[McpCall] = field(default_factory=list)
    """Client requests with their replies, in request order."""
    notifications: list[McpMessage] = field(default_factory=list)
    """Notifications either way (initialized, progress, cancelled, list_changed, ...)."""
    server_requests: list[McpMessage] = field(default_factory=list)
    """Requests the server sent the client inside the reply stream (sampling, elicitation)."""
    session_id: str | None = None
    """`Mcp-Session-Id` (2025-11-25 sessions)."""
    protocol_version: str | None = None
    """From the `mcp-protocol-version` header, the request `_meta`, or the initialize result."""
    http_method: str = "POST"
    """GET opens a server stream, DELETE ends a session; both carry no calls."""


@dataclass
class HttpToolCall:
    """A call to a generic HTTP tool backend."""

    method: str
    path: str
    """URL path (without the route's upstream base path when known)."""
    query: dict[str, Any]
    """Query parameters: a value, or a list when repeated."""
    body: Any
    """JSON body, form dict, text, or None."""
    status: int | None
    """Response status (None when the upstream failed)."""
    response_json: Any = None
    """Parsed JSON response body, when it was JSON."""
    response_text: str = ""
    """The response body as text (decoded)."""
    response_body: bytes = b""
    """The response body decoded from any content-encoding."""

    @property
    def name(self) -> str:
        """`METHOD /path`: the tool name stubs index HTTP calls by."""
        return f"{self.method} {self.path}"

    @property
    def arguments(self) -> dict[str, Any]:
        """`{"query": ..., "body": ...}`: the arguments stubs match on."""
        return {"query": self.query, "body": self.body}


@dataclass
class Parsed:
    """The result of parsing one exchange; `problems` lists what could not be understood."""

    exchange_id: str
    protocol: Protocol
    problems: list[str] = field(default_factory=list)
    llm: LlmCall | None = None
    mcp: McpTraffic | None = None
    http: HttpToolCall | None = None


def load_json(data: bytes | str, problems: list[str], where: str) -> Any:
    """Parse JSON; on failure record a problem naming `where` and return None."""
    if isinstance(data, bytes):
        value = try_loads(data)  # the common case: valid UTF-8 JSON, decoded by orjson
        if value is not MISS:
            return value
        try:
            text = data.decode("utf-8")  # JSON on the wire here is UTF-8 (json.loads would guess)
        except UnicodeDecodeError as exc:
            problems.append(f"{where} is not valid UTF-8 (byte {exc.start})")
            text = data.decode("utf-8", "replace")
    else:
        text = data
    try:
        return loads(text)
    except ValueError as exc:
        problems.append(f"{where} is not valid JSON ({exc})")
        return None


# what `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# default=str)` builds on every call; made once, since threading calls it for every tool call
# of every request
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    """True for dicts (string keys), lists, strings, integers, booleans and None only: values
    `orjson` writes byte for byte as `json` does (floats are printed differently)."""
    t = type(value)
    if t is dict:
        if depth > 32:
            return False
        for k, v in value.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv not in _SCALARS and ((tv is not dict and tv is not list)
                                       or not _plain(v, depth + 1)):
                return False
        return True
    if t is list:
        if depth > 32:
            return False
        for v in value:
            tv = type(v)
            if tv not in _SCALARS and ((tv is not dict and tv is not list)
                                       or not _plain(v, depth + 1)):
                return False
        return True
    return t in _SCALARS


def canonical_json(value: Any) -> str:
    """Key-sorted compact JSON: equal values give equal strings."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates
            pass
    return _CANONICAL.encode(value)


def flat_usage(usage: Any) -> dict[str, int]:
    """Token usage flattened to `name` / `parent.name` → int (nested details included)."""
    out: dict[str, int] = {}

    def walk(obj: Any, prefix: str) -> None:
        if not isinstance(obj, dict):
            return
        for k, v in obj.items():
            if isinstance(v, bool):
                continue
            if isinstance(v, int):
                out[prefix + k] = v
            elif isinstance(v, dict):
                walk(v, f"{prefix}{k}.")

    walk(usage, "")
    return out


def tool_arguments(raw: Any) -> tuple[Any, str | None]:
    """(parsed arguments, raw string): a JSON string is parsed, kept raw when it is not JSON."""
    if isinstance(raw, str):
        try:
            return loads(raw) if raw.strip() else {}, raw
        except ValueError:
            return raw, raw
    return raw, None


def error_text(status: int, doc: Any, body: bytes) -> str:
    """A one-line description of an HTTP error response."""
    message = None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            message = err.get("message") or err.get("type")
        elif isinstance(err, str):
            message = err
        message = message or doc.get("message")
    if not message:
        message = body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"

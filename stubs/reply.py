"""How the index stores a recorded call (`Row`, packed with `recorder.codec`) and what a stub
answers with before it is shaped for a transport (`Reply`).

Rows are kept packed: an index of a million calls holds a million small byte strings instead of
a million object graphs, and only the rows that answer something are ever unpacked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from recorder import codec
from recorder.recorded_tool_call import RecordedToolCall, ToolKind


class Row(NamedTuple):
    """One recorded call as the index keeps it."""

    tool: int
    session: str | None
    call_index: int
    arguments: Any
    content: str
    structured: Any
    is_error: bool
    latency_ms: float | None
    status: int | None
    headers: list[list[str]] | None
    body: bytes | None
    mcp_result: dict[str, Any] | None
    mcp_error: dict[str, Any] | None
    exchange_id: str | None


def pack_call(call: RecordedToolCall, tool: int) -> bytes:
    """A recorded call as a packed row."""
    r = call.result
    http = call.http
    return codec.pack(
        [tool, call.session_id, call.index, call.arguments, r.content, r.structured,
         r.is_error, r.latency_ms,
         http.status if http else None, [list(h) for h in http.headers] if http else None,
         http.body if http else None, call.mcp_result, call.mcp_error,
         call.exchange_id or r.exchange_id],
        stringify_unknown=True)


def unpack_row(blob: bytes) -> Row:
    """A packed row back as the `Row` it was packed from."""
    return Row(*codec.unpack(blob))


@dataclass(frozen=True, slots=True)
class Reply:
    """A tool response on its way to becoming a `StubAnswer`: recorded, synthesised,
    simulated or perturbed, for any transport."""

    content: str = ""
    """The text the model sees."""
    structured: Any = None
    """Structured result (MCP structuredContent, parsed JSON body), if any."""
    is_error: bool = False
    latency_ms: float | None = None
    status: int | None = None
    """HTTP status (http tools)."""
    headers: tuple[tuple[str, str], ...] = ()
    """HTTP response headers (http tools)."""
    body: bytes | None = None
    """HTTP response body (http tools)."""
    mcp_result: dict[str, Any] | None = None
    """The whole MCP CallToolResult (mcp tools)."""
    mcp_error: dict[str, Any] | None = None
    """A JSON-RPC error object instead of a result (mcp tools)."""
    exchange_id: str | None = None
    """The recorded exchange it came from, if any."""

    @classmethod
    def from_row(cls, row: Row) -> Reply:
        return cls(content=row.content, structured=row.structured, is_error=row.is_error,
                   latency_ms=row.latency_ms, status=row.status,
                   headers=tuple((h[0], h[1]) for h in row.headers or ()),
                   body=row.body, mcp_result=row.mcp_result, mcp_error=row.mcp_error,
                   exchange_id=row.exchange_id)

    def with_(self, **changes: Any) -> Reply:
        return replace(self, **changes)


def error_reply(kind: ToolKind, message: str, *, status: int = 500,
                jsonrpc_code: int | None = None, headers: tuple[tuple[str, str], ...] = (),
                data: dict[str, Any] | None = None) -> Reply:
    """A tool error the way each transport reports one.

    function: an error result with the message; mcp: a CallToolResult with `isError` (or, with
    `jsonrpc_code`, a JSON-RPC error object); http: `status` with a JSON error body.
    """
    if kind == "http":
        body = json.dumps({"error": {"status": status, "message": message, **(data or {})}})
        return Reply(content=body, structured=json.loads(body), is_error=True, status=status,
                     headers=(("content-type", "application/json"),
                              ("content-length", str(len(body.encode()))), *headers),
                     body=body.encode())
    if kind == "mcp":
        if jsonrpc_code is not None:
            err: dict[str, Any] = {"code": jsonrpc_code, "message": message}
            if data:
                err["data"] = data
            return Reply(content=message, is_error=True, mcp_error=err)
        return Reply(content=message, is_error=True,
                     mcp_result={"content": [{"type": "text", "text": message}], "isError": True})
    return Reply(content=message, is_error=True)


def plain_reply(kind: ToolKind, text: str) -> Reply:
    """A successful reply carrying only text, for a tool with no recording to copy the form of."""
    if kind == "http":
        body = text.encode()
        try:
            json.loads(text)
            ctype = "application/json"
        except ValueError:
            ctype = "text/plain; charset=utf-8"
        return Reply(content=text, status=200, body=body,
                     headers=(("content-type", ctype), ("content-length", str(len(body)))))
    if kind == "mcp":
        return Reply(content=text,
                     mcp_result={"content": [{"type": "text", "text": text}], "isError": False})
    return Reply(content=text)

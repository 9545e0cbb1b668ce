"""Recorded tool calls and MCP server catalogues: what stubs and the replay proxy are built from.

Extracted from a corpus by `recorder.extract_tool_calls.extract_tool_calls` (LLM function tools from
sessions, MCP `tools/call` and HTTP tool routes from raw exchanges) and
`recorder.extract_tool_calls.extract_mcp_servers`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recorder.exchange import Header
from recorder.session import ToolResult

ToolKind = Literal["function", "mcp", "http"]


class HttpReply(BaseModel):
    """An HTTP tool's recorded reply, kept whole so replay can answer byte for byte."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: int
    """HTTP status."""
    headers: list[Header] = Field(default_factory=list)
    """Response headers as recorded (redacted)."""
    body: bytes = b""
    """Response body as recorded (decoded from any content-encoding)."""


class RecordedToolCall(BaseModel):
    """One recorded tool call with its result, from any transport."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ToolKind
    """function (an LLM-API tool call answered by the agent), mcp (tools/call) or http (REST)."""
    server: str | None = None
    """Gateway route the tool was served under (MCP server / HTTP backend); None for function."""
    name: str
    """Tool name; for http the route `METHOD /path` (path without the route prefix or query)."""
    arguments: Any = None
    """JSON arguments; for http `{"query": {...}, "body": ...}` (body JSON, form dict or text)."""
    result: ToolResult
    """The result as the model saw it (text, structured, is_error, latency)."""
    session_id: str | None = None
    """The session that issued the call, when it could be attached."""
    index: int = 0
    """Position of the call among its session's tool calls (or its route's, when unattached)."""
    exchange_id: str | None = None
    """The exchange that carried the call, when it travelled on the wire."""
    started_at: float | None = None
    """When the call started (Unix time)."""
    http: HttpReply | None = None
    """For http tools: the whole recorded reply."""
    mcp_result: dict[str, Any] | None = None
    """For mcp tools: the JSON-RPC `result` object as recorded (content, structuredContent, ...)."""
    mcp_error: dict[str, Any] | None = None
    """For mcp tools: the JSON-RPC `error` object when the call failed at protocol level."""


class McpServerRecord(BaseModel):
    """What a recorded MCP server said about itself, so the replay proxy can stand in for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str | None
    """Gateway route name (None for the unnamed upstream) or stdio server name."""
    protocol_version: str | None = None
    """Negotiated protocol version (from initialize, or the 2026-07-28 `_meta`)."""
    server_info: dict[str, Any] = Field(default_factory=dict)
    """`serverInfo` from the initialize (or server/discover) result."""
    capabilities: dict[str, Any] = Field(default_factory=dict)
    """Server capabilities as recorded."""
    instructions: str | None = None
    """Server instructions, if any."""
    init_result: dict[str, Any] | None = None
    """The whole initialize / server/discover result as recorded."""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    """Tool definitions from tools/list (name, description, inputSchema, outputSchema, ...)."""

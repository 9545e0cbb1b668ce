"""From a reply to the `StubAnswer` a transport sends: the model-visible `ToolResult` for every
kind, plus a full MCP CallToolResult (or JSON-RPC error) for mcp and an `HttpReply` for http.
A reply recorded on one transport renders on another (an MCP tool the agent calls as a
function tool, say).

What renders is a `Reply` (synthesised, simulated, perturbed...) or, for a recorded call
nothing perturbs, the index's `Row` itself: both carry the fields `ReplyFields` names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from recorder.recorded_tool_call import HttpReply, ToolKind
from stubs import construct
from stubs.api import StubAnswer
from stubs.reply import Reply


class ReplyFields(Protocol):
    """What rendering reads: a `stubs.reply.Reply` or a recorded `stubs.reply.Row`."""

    @property
    def content(self) -> str: ...
    @property
    def structured(self) -> Any: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def status(self) -> int | None: ...
    @property
    def headers(self) -> Sequence[Sequence[str]] | None: ...
    @property
    def body(self) -> bytes | None: ...
    @property
    def mcp_result(self) -> dict[str, Any] | None: ...
    @property
    def mcp_error(self) -> dict[str, Any] | None: ...
    @property
    def exchange_id(self) -> str | None: ...


def mcp_result_of(reply: ReplyFields) -> dict[str, Any]:
    """The CallToolResult to send: the recorded one (with `isError` made explicit) or one built
    from the reply's text and structured content."""
    if reply.mcp_result is not None:
        result = dict(reply.mcp_result)
        result.setdefault("content", [])
        result["isError"] = bool(result.get("isError", reply.is_error))
        return result
    result = {"content": [{"type": "text", "text": reply.content}], "isError": reply.is_error}
    if isinstance(reply.structured, dict):
        result["structuredContent"] = reply.structured
    return result


def http_reply_of(reply: ReplyFields) -> HttpReply:
    """The HTTP reply to send: recorded status, headers and body, or ones built from the text."""
    body = reply.content.encode() if reply.body is None else reply.body
    status = reply.status if reply.status is not None else 500 if reply.is_error else 200
    headers = [(h[0], h[1]) for h in reply.headers or ()]
    if not headers:
        ctype = "text/plain; charset=utf-8"
        try:
            json.loads(body)
            ctype = "application/json"
        except ValueError:
            pass
        headers = [("content-type", ctype), ("content-length", str(len(body)))]
    return construct.BUILD.http({"status": status, "headers": headers, "body": body})


def render(kind: ToolKind, reply: ReplyFields, provenance: str, *, delay_s: float = 0.0,
           timeout: bool = False, diagnostics: dict[str, Any] | None = None) -> StubAnswer:
    """The answer for a query of `kind`, provenance on the answer and on its result."""
    http = mcp_result = mcp_error = None
    content = reply.content
    if kind == "http":
        http = http_reply_of(reply)
    elif kind == "mcp":
        if reply.mcp_error is not None:
            mcp_error = dict(reply.mcp_error)
            content = content or str(mcp_error.get("message", ""))
        else:
            mcp_result = mcp_result_of(reply)
    # every field, in declaration order: `stubs.construct`'s builders take them so
    result = construct.BUILD.result({
        "content": content, "structured": reply.structured,
        "is_error": bool(reply.is_error or mcp_error is not None),
        "latency_ms": reply.latency_ms, "provenance": provenance,
        "exchange_id": reply.exchange_id})
    return construct.BUILD.answer({
        "result": result, "provenance": provenance, "delay_s": delay_s, "timeout": timeout,
        "http": http, "mcp_result": mcp_result, "mcp_error": mcp_error,
        "diagnostics": diagnostics or {}})


def reply_of(answer: StubAnswer) -> Reply:
    """A `StubAnswer` (from a live tool, say) back as a `Reply`, so it can be perturbed."""
    r = answer.result
    http = answer.http
    return Reply(content=r.content, structured=r.structured, is_error=r.is_error,
                 latency_ms=r.latency_ms, status=http.status if http else None,
                 headers=tuple(http.headers) if http else (), body=http.body if http else None,
                 mcp_result=answer.mcp_result, mcp_error=answer.mcp_error,
                 exchange_id=r.exchange_id)

"""From a `Reply` to the `StubAnswer` a transport sends: the model-visible `ToolResult` for
every kind, plus a full MCP CallToolResult (or JSON-RPC error) for mcp and an `HttpReply` for
http. A reply recorded on one transport renders on another (an MCP tool the agent calls as a
function tool, say)."""

from __future__ import annotations

import json
from typing import Any

from recorder.session import ToolResult
from recorder.toolcall import HttpReply, ToolKind
from stubs.api import StubAnswer
from stubs.reply import Reply


def mcp_result_of(reply: Reply) -> dict[str, Any]:
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


def http_reply_of(reply: Reply) -> HttpReply:
    """The HTTP reply to send: recorded status, headers and body, or ones built from the text."""
    body = reply.body if reply.body is not None else reply.content.encode()
    status = reply.status if reply.status is not None else (500 if reply.is_error else 200)
    headers = list(reply.headers)
    if not headers:
        ctype = "text/plain; charset=utf-8"
        try:
            json.loads(body)
            ctype = "application/json"
        except ValueError:
            pass
        headers = [("content-type", ctype), ("content-length", str(len(body)))]
    return HttpReply.model_construct(status=status, headers=headers, body=body)


def render(kind: ToolKind, reply: Reply, provenance: str, *, delay_s: float = 0.0,
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
    # built from typed, trusted parts: skip re-validation on the hot path of every answer
    result = ToolResult.model_construct(
        content=content, structured=reply.structured,
        is_error=bool(reply.is_error or mcp_error is not None), latency_ms=reply.latency_ms,
        provenance=provenance, exchange_id=reply.exchange_id)
    return StubAnswer(result=result, provenance=provenance, delay_s=delay_s, timeout=timeout,
                      http=http, mcp_result=mcp_result, mcp_error=mcp_error,
                      diagnostics=diagnostics or {})


def reply_of(answer: StubAnswer) -> Reply:
    """A `StubAnswer` (from a live tool, say) back as a `Reply`, so it can be perturbed."""
    r = answer.result
    http = answer.http
    return Reply(content=r.content, structured=r.structured, is_error=r.is_error,
                 latency_ms=r.latency_ms, status=http.status if http else None,
                 headers=tuple(http.headers) if http else (), body=http.body if http else None,
                 mcp_result=answer.mcp_result, mcp_error=answer.mcp_error,
                 exchange_id=r.exchange_id)

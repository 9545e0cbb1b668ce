"""From a `Reply` to the `StubAnswer` a transport sends: the model-visible `ToolResult` for
every kind, plus a full MCP CallToolResult (or JSON-RPC error) for mcp and an `HttpReply` for
http. A reply recorded on one transport renders on another (an MCP tool the agent calls as a
function tool, say)."""

from __future__ import annotations

import json
from typing import Any

from recorder.recorded_tool_call import HttpReply, ToolKind
from recorder.session import ToolResult
from stubs.api import StubAnswer
from stubs.construct import dataclass_builder, model_builder
from stubs.reply import Reply

_result = model_builder(ToolResult)
_http = model_builder(HttpReply)
_answer = dataclass_builder(StubAnswer)


def mcp_result_of(reply: Reply) -> dict[str, Any]:
    """The CallToolResult to send: the recorded one (with `isError` made explicit) or one built
    from the reply's text and structured content."""
    return _mcp_result(reply.mcp_result, reply.content, reply.structured, reply.is_error)


def _mcp_result(recorded: dict[str, Any] | None, content: str, structured: Any,
                is_error: bool) -> dict[str, Any]:
    if recorded is not None:
        result = dict(recorded)
        result.setdefault("content", [])
        result["isError"] = bool(result.get("isError", is_error))
        return result
    result = {"content": [{"type": "text", "text": content}], "isError": is_error}
    if isinstance(structured, dict):
        result["structuredContent"] = structured
    return result


def http_reply_of(reply: Reply) -> HttpReply:
    """The HTTP reply to send: recorded status, headers and body, or ones built from the text."""
    return _http_reply(reply.status, list(reply.headers), reply.body, reply.content,
                       reply.is_error)


def _http_reply(status: int | None, headers: list[tuple[str, str]], body: bytes | None,
                content: str, is_error: bool) -> HttpReply:
    if body is None:
        body = content.encode()
    if status is None:
        status = 500 if is_error else 200
    if not headers:
        ctype = "text/plain; charset=utf-8"
        try:
            json.loads(body)
            ctype = "application/json"
        except ValueError:
            pass
        headers = [("content-type", ctype), ("content-length", str(len(body)))]
    return _http({"status": status, "headers": headers, "body": body})


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
    result = _result({"content": content, "structured": reply.structured,
                      "is_error": bool(reply.is_error or mcp_error is not None),
                      "latency_ms": reply.latency_ms, "provenance": provenance,
                      "exchange_id": reply.exchange_id})
    return _answer({"result": result, "provenance": provenance, "delay_s": delay_s,
                    "timeout": timeout, "http": http, "mcp_result": mcp_result,
                    "mcp_error": mcp_error, "diagnostics": diagnostics or {}})


def render_row(kind: ToolKind, fields: list[Any], provenance: str) -> StubAnswer:
    """`render(kind, Reply.from_row(Row(*fields)), provenance)` straight from a row's unpacked
    fields (`stubs.reply.unpack_fields`), without the `Row` and `Reply` in between: the path
    of every exact, unperturbed answer."""
    (_, _, _, _, content, structured, is_error, latency_ms, status, headers, body, mcp_result,
     mcp_error, exchange_id) = fields
    http = mcp_ok = None
    if kind == "http":
        http = _http_reply(status, [(h[0], h[1]) for h in headers] if headers else [], body,
                           content, is_error)
    elif kind == "mcp":
        if mcp_error is not None:
            mcp_error = dict(mcp_error)
            content = content or str(mcp_error.get("message", ""))
            is_error = True
        else:
            mcp_ok = _mcp_result(mcp_result, content, structured, is_error)
    if kind != "mcp":
        mcp_error = None
    result = _result({"content": content, "structured": structured,
                      "is_error": bool(is_error), "latency_ms": latency_ms,
                      "provenance": provenance, "exchange_id": exchange_id})
    return _answer({"result": result, "provenance": provenance, "delay_s": 0.0,
                    "timeout": False, "http": http, "mcp_result": mcp_ok, "mcp_error": mcp_error,
                    "diagnostics": {}})


def reply_of(answer: StubAnswer) -> Reply:
    """A `StubAnswer` (from a live tool, say) back as a `Reply`, so it can be perturbed."""
    r = answer.result
    http = answer.http
    return Reply(content=r.content, structured=r.structured, is_error=r.is_error,
                 latency_ms=r.latency_ms, status=http.status if http else None,
                 headers=tuple(http.headers) if http else (), body=http.body if http else None,
                 mcp_result=answer.mcp_result, mcp_error=answer.mcp_error,
                 exchange_id=r.exchange_id)

"""Small builders for tests and benchmarks: recorded tool calls without a recording session.

    >>> call = function_call("get_weather", {"city": "Paris"}, {"temp": 21}, session="s1")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from recorder.session import ToolResult
from recorder.toolcall import HttpReply, RecordedToolCall


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def function_call(name: str, arguments: Any, result: Any, *, session: str | None = None,
                  index: int = 0, is_error: bool = False,
                  latency_ms: float | None = None) -> RecordedToolCall:
    """An LLM function-tool call whose result the model saw as text (JSON when not a str)."""
    return RecordedToolCall(
        kind="function", name=name, arguments=arguments, session_id=session, index=index,
        result=ToolResult(content=_text(result), is_error=is_error, latency_ms=latency_ms))


def mcp_call(server: str | None, name: str, arguments: Any, result: Any, *,
             session: str | None = None, index: int = 0, is_error: bool = False,
             structured: bool = True, error: dict[str, Any] | None = None,
             latency_ms: float | None = None) -> RecordedToolCall:
    """An MCP tools/call with a CallToolResult (text content, plus structuredContent for dict
    results when `structured`), or a JSON-RPC `error`."""
    text = _text(result)
    mcp_result: dict[str, Any] | None = None
    sc = None
    if error is None:
        mcp_result = {"content": [{"type": "text", "text": text}], "isError": is_error}
        if structured and not is_error:
            sc = result if isinstance(result, dict) else {"result": result}
            mcp_result["structuredContent"] = sc
    return RecordedToolCall(
        kind="mcp", server=server, name=name, arguments=arguments, session_id=session,
        index=index, mcp_result=mcp_result, mcp_error=error,
        result=ToolResult(content=error["message"] if error else text, structured=sc,
                          is_error=is_error or error is not None, latency_ms=latency_ms))


def http_call(server: str | None, method: str, path: str, *, query: dict[str, Any] | None = None,
              body: Any = None, status: int = 200, response: Any = None,
              headers: Sequence[tuple[str, str]] = (), session: str | None = None,
              index: int = 0, latency_ms: float | None = None) -> RecordedToolCall:
    """An HTTP tool call (`METHOD /path`) with a JSON (or text) response body."""
    text = _text(response if response is not None else "")
    hdrs = list(headers) or [("content-type", "application/json")]
    hdrs = [*hdrs, ("content-length", str(len(text.encode())))]
    structured = response if not isinstance(response, str) else None
    return RecordedToolCall(
        kind="http", server=server, name=f"{method.upper()} {path}",
        arguments={"query": query or {}, "body": body}, session_id=session, index=index,
        http=HttpReply(status=status, headers=hdrs, body=text.encode()),
        result=ToolResult(content=text, structured=structured, is_error=status >= 400,
                          latency_ms=latency_ms))

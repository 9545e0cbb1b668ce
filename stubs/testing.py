"""Small builders for tests and benchmarks: recorded tool calls without a recording session.

    >>> call = function_call("get_weather", {"city": "Paris"}, {"temp": 21}, session="s1")
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from recorder.recorded_tool_call import HttpReply, RecordedToolCall
from recorder.session import ToolResult


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


# -- a sample world: tools whose true answers are known -----------------------------------------

CITIES = ["Paris", "London", "Rome", "Oslo", "Berlin", "Madrid", "Lisbon", "Vienna", "Prague",
          "Dublin", "Athens", "Warsaw"]
_CONDITIONS = ["sunny", "cloudy", "rain", "snow", "fog"]
_TOPICS = ["refund policy", "shipping times", "api keys", "rate limits", "webhooks",
           "password reset", "invoices", "data export"]


def _h(*parts: object) -> int:
    from stubs.seeding import digest

    return int.from_bytes(digest(*parts)[:6], "big")


def weather(city: str, day: int) -> dict[str, Any]:
    """The true answer of get_weather for a city on a day."""
    return {"city": city, "temp_c": _h(city, day) % 35 - 5,
            "conditions": _CONDITIONS[_h(city, day, "c") % 5],
            "humidity": 30 + _h(city, day, "h") % 60,
            "updated_at": f"2025-03-{day:02d}T{_h(city, day, 't') % 24:02d}:00:00Z"}


def search(query: str, limit: int) -> dict[str, Any]:
    n = min(limit, 1 + _h(query) % 6)
    return {"total": n, "results": [
        {"id": f"doc-{_h(query, i) % 10000}", "title": f"{query.title()}: part {i + 1}",
         "score": round(1 - i * 0.13, 2), "url": f"https://docs.example.com/{_h(query, i) % 997}"}
        for i in range(n)]}


def file_text(path: str) -> str:
    words = ["config", "server", "port", "timeout", "retries", "region", "log", "level"]
    lines = [f"{words[_h(path, i) % 8]} = {_h(path, i, 'v') % 1000}"
             for i in range(3 + _h(path) % 5)]
    return f"# {path}\n" + "\n".join(lines)


def order(order_id: str) -> dict[str, Any]:
    return {"id": order_id, "status": ["paid", "shipped", "delivered"][_h(order_id) % 3],
            "total": round(10 + _h(order_id, "t") % 20000 / 100, 2), "currency": "EUR",
            "items": [{"sku": f"SKU-{_h(order_id, i) % 900 + 100}", "qty": 1 + _h(order_id, i, "q")
                       % 3} for i in range(1 + _h(order_id, "n") % 4)]}


def sample_calls(sessions: int = 60, seed: int = 0) -> list[RecordedToolCall]:
    """A realistic mixed corpus of recorded calls (function, MCP and HTTP tools) from a world
    whose true answers are known: weather by city and day, document search, config files,
    orders, refunds, a job polled until done, e-mails. Sessions share popular calls (weather in
    Paris, searches for common topics), so some calls repeat across sessions and some are new.
    """
    from stubs.seeding import rng

    out: list[RecordedToolCall] = []
    for s in range(sessions):
        r = rng(seed, "sample", s)
        sid = f"sess-{s:04d}"
        day = 1 + s % 5  # sessions on five different days: the weather changes between them
        n = 0

        def add(call: RecordedToolCall) -> None:
            nonlocal n
            out.append(call)
            n += 1

        for _ in range(r.randint(2, 6)):
            task = r.choice(["weather", "weather", "search", "file", "order", "refund", "job",
                             "email"])
            if task == "weather":
                city = r.choice(CITIES[:4]) if r.random() < 0.7 else r.choice(CITIES)
                add(function_call("get_weather", {"city": city, "units": "metric"},
                                  weather(city, day), session=sid, index=n,
                                  latency_ms=80 + r.random() * 200))
            elif task == "search":
                topic = r.choice(_TOPICS[:3]) if r.random() < 0.6 else r.choice(_TOPICS)
                limit = r.choice([3, 5])
                add(mcp_call("docs", "search_docs", {"query": topic, "limit": limit},
                             search(topic, limit), session=sid, index=n))
            elif task == "file":
                path = f"/etc/app/{r.choice(['app', 'db', 'cache', 'worker'])}.conf"
                add(mcp_call("fs", "read_file", {"path": path}, file_text(path), session=sid,
                             index=n, structured=False))
            elif task == "order":
                oid = f"A{1000 + r.randint(0, 40)}"
                add(http_call("shop", "GET", "/v1/orders", query={"id": oid},
                              response=order(oid), session=sid, index=n))
            elif task == "refund":
                oid = f"A{1000 + r.randint(0, 40)}"
                ok = r.random() < 0.8
                add(http_call("shop", "POST", "/v1/refunds",
                              body={"order_id": oid, "reason": "damaged"},
                              status=201 if ok else 409,
                              response={"refund_id": f"rf_{_h(oid, s) % 99999}",
                                        "status": "pending"} if ok
                              else {"error": {"message": "order already refunded"}},
                              session=sid, index=n))
            elif task == "job":
                job = f"job-{s}"
                for state in ["queued", "running", "running", "done"]:
                    add(function_call("get_job_status", {"job_id": job},
                                      {"job_id": job, "state": state}, session=sid, index=n))
            else:
                to = f"user{r.randint(1, 30)}@example.com"
                add(function_call("send_email", {"to": to, "subject": "Your order",
                                                 "body": "Hello"},
                                  {"status": "sent", "message_id": f"<{_h(to, s)}@mail>"},
                                  session=sid, index=n))
    return out


def call_exchange(call: RecordedToolCall, id: str, started_at: float) -> Any:
    """An MCP or HTTP recorded call as the raw exchange the recording proxy would have
    captured (JSON-RPC `tools/call` under the server's route; `METHOD /path?query`)."""
    from urllib.parse import urlencode

    from recorder.testing import make_exchange

    if call.kind == "mcp":
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": 1}
        if call.mcp_error is not None:
            reply["error"] = call.mcp_error
        else:
            reply["result"] = call.mcp_result
        return make_exchange("http://127.0.0.1:9/mcp", id=id, route=call.server,
                             started_at=started_at, duration=0.05,
                             request_json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                           "params": {"name": call.name,
                                                      "arguments": call.arguments}},
                             response_json=reply)
    assert call.kind == "http" and call.http is not None
    method, path = call.name.split(" ", 1)
    args = call.arguments or {}
    query = urlencode(args.get("query") or {})
    return make_exchange(f"http://127.0.0.1:9{path}" + (f"?{query}" if query else ""), id=id,
                         method=method, route=call.server, started_at=started_at,
                         duration=0.05, request_json=args.get("body"), status=call.http.status,
                         response_body=call.http.body,
                         response_headers=[(k, v) for k, v in call.http.headers])


def function_name(call: RecordedToolCall) -> str:
    """The name an LLM knows a tool by (`GET /v1/orders` -> `get_v1_orders`)."""
    return re.sub(r"\W+", "_", call.name).strip("_").lower() if call.kind == "http" else call.name


def sample_records(calls: Sequence[RecordedToolCall]) -> list[Any]:
    """The calls as cassette records: one session per recorded session (each call an assistant
    tool call with its tool result), and for MCP and HTTP calls the raw tool exchange too,
    attached to its session."""
    from recorder.session import ContentPart, Message, Session, SessionSource, ToolCall, ToolDef

    by_session: dict[str, list[RecordedToolCall]] = {}
    for c in calls:
        by_session.setdefault(c.session_id or "unattached", []).append(c)
    records: list[Any] = []
    clock = 1_700_000_000.0
    for sid, cs in by_session.items():
        msgs = [Message(role="system", content=[ContentPart(text="You are a helpful agent.")]),
                Message(role="user", content=[ContentPart(text="Please help me.")])]
        exchange_ids = []
        for i, c in enumerate(cs):
            call_id = f"call_{sid}_{i}"
            name = function_name(c)
            msgs.append(Message(role="assistant", tool_calls=[ToolCall(
                id=call_id, name=name, arguments=c.arguments, server=c.server)]))
            msgs.append(Message(role="tool", tool_call_id=call_id, name=name,
                                content=[ContentPart(text=c.result.content)], result=c.result))
            if c.kind != "function":
                clock += 1
                ex = call_exchange(c, f"ex-{sid}-{i}", clock)
                records.append(ex)
                exchange_ids.append(ex.id)
        msgs.append(Message(role="assistant", content=[ContentPart(text="Done.")]))
        tools = [ToolDef(name=n, description=f"The {n} tool.") for n in
                 dict.fromkeys(function_name(c) for c in cs)]
        records.append(Session(id=sid, messages=msgs, tools=tools,
                               source=SessionSource(exchange_ids=exchange_ids)))
    return records


def write_sample_corpus(path: str, calls: Sequence[RecordedToolCall]) -> str:
    """Write the calls' records (`sample_records`) into one cassette file; returns its path."""
    from recorder.writer import CassetteWriter

    with CassetteWriter(path, producer="stubs.testing", durability="close") as w:
        for r in sample_records(calls):
            w.write(r)
        return w.path

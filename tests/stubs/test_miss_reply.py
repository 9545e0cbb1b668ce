"""Misses answer the way the tool fails (its own recorded errors, else the SDKs' wording), and
never say a word about the replay; why they missed stays in the diagnostics."""

from __future__ import annotations

import json
from typing import Any

from stubs.api import ToolQuery
from stubs.engine import StubEngine
from stubs.testing import function_call, http_call, mcp_call


def q(name: str, args: Any, *, kind: str = "function", server: str | None = None) -> ToolQuery:
    return ToolQuery(kind=kind, name=name, arguments=args, server=server)  # type: ignore[arg-type]


async def test_a_function_miss_reuses_the_tools_generic_recorded_error() -> None:
    calls = [
        function_call("shell", {"command": "ls"}, "a.txt\nb.txt", session="s1"),
        function_call("shell", {"command": "cat secrets.env"},
                      "cat: secrets.env: Permission denied", is_error=True, session="s1",
                      index=1),
        function_call("shell", {"command": "make"}, "Error: HTTP 503: Service Unavailable",
                      is_error=True, session="s2"),
        function_call("shell", {"command": "make test"}, "Error: HTTP 503: Service Unavailable",
                      is_error=True, session="s3"),
    ]
    e = StubEngine.from_calls(calls, fallbacks=())
    a = await e.answer(q("shell", {"command": "rm -rf /tmp/workspace"}))
    # the error that named its own call (secrets.env) is not lent to another call
    assert a.provenance == "miss" and a.result.is_error
    assert a.result.content == "Error: HTTP 503: Service Unavailable"
    assert "rm -rf" in a.diagnostics["reason"]


async def test_a_tool_without_generic_errors_fails_in_the_sdk_wording() -> None:
    calls = [function_call("lookup", {"id": "A1"}, {"id": "A1"}),
             function_call("lookup", {"id": "B2"}, "no order B2", is_error=True)]
    e = StubEngine.from_calls(calls, fallbacks=())
    a = await e.answer(q("lookup", {"id": "C3"}))
    assert a.result.content == "Error executing tool lookup"
    a = await e.answer(q("lookupp", {"id": "C3"}))
    assert a.result.content == "Unknown tool: lookupp"


async def test_an_mcp_miss_is_an_iserror_result_of_the_tool() -> None:
    calls = [mcp_call("git", "git_log", {"repo": "/r", "n": 3}, "commit abc"),
             mcp_call("git", "git_log", {"repo": "/x", "n": 1}, "Error: repository locked",
                      is_error=True)]
    e = StubEngine.from_calls(calls, fallbacks=())
    a = await e.answer(q("git_log", {"repo": "/other", "n": 9}, kind="mcp", server="git"))
    assert a.mcp_result is not None and a.mcp_result["isError"] is True
    assert a.mcp_result["content"][0]["text"] == "Error: repository locked"


async def test_http_misses_follow_the_routes_error_layout() -> None:
    calls = [
        http_call("crm", "GET", "/customers/C-1", response={"id": "C-1"}),
        http_call("crm", "GET", "/customers/C-9", status=404,
                  response={"detail": "Customer C-9 not found"}),
        http_call("crm", "POST", "/refunds", body={"amount": 12.5}, response={"ok": True}),
    ]
    e = StubEngine.from_calls(calls, fallbacks=())
    unknown = await e.answer(q("GET /customers/C-7", {"query": {}, "body": None}, kind="http",
                               server="crm"))
    assert unknown.http is not None and unknown.http.status == 404
    assert json.loads(unknown.http.body) == {"detail": "Not Found"}  # FastAPI's own layout
    known = await e.answer(q("POST /refunds", {"query": {}, "body": {"amount": 99}},
                             kind="http", server="crm"))
    assert known.http is not None and known.http.status == 500
    assert json.loads(known.http.body) == {"detail": "Internal Server Error"}
    assert dict(known.http.headers)["content-type"] == "application/json"


async def test_a_recorded_generic_http_error_is_reused_and_text_routes_answer_text() -> None:
    calls = [http_call("wiki", "GET", "/page", query={"t": "a"}, response="<p>a</p>",
                       headers=[("content-type", "text/html")]),
             http_call("wiki", "GET", "/page", query={"t": "b"}, status=503,
                       response="upstream busy", headers=[("content-type", "text/plain")])]
    e = StubEngine.from_calls(calls, fallbacks=())
    a = await e.answer(q("GET /page", {"query": {"t": "zzz"}, "body": None}, kind="http",
                         server="wiki"))
    assert a.http is not None and a.http.status == 503 and a.http.body == b"upstream busy"
    a = await e.answer(q("GET /other", {"query": {}, "body": None}, kind="http",
                         server="wiki"))
    assert a.http is not None and a.http.status == 404 and a.http.body == b"Not Found"


async def test_no_miss_mentions_deploysim() -> None:
    calls = [function_call("f", {"a": 1}, {"x": 1}), mcp_call("m", "t", {"a": 1}, "ok"),
             http_call("h", "GET", "/p", response={"x": 1})]
    e = StubEngine.from_calls(calls, fallbacks=())
    answers = [await e.answer(q("f", {"a": 2})), await e.answer(q("g", "{bad")),
               await e.answer(q("t", {"a": 2}, kind="mcp", server="m")),
               await e.answer(q("u", {}, kind="mcp", server="m")),
               await e.answer(q("GET /p", {"query": {"a": 2}, "body": None}, kind="http",
                                server="h")),
               await e.answer(q("GET /zz", {"query": {}, "body": None}, kind="http",
                                server="nowhere"))]
    for a in answers:
        assert a.provenance == "miss"
        seen = a.result.content + json.dumps(a.mcp_result) + json.dumps(a.mcp_error) + \
            (a.http.body.decode() if a.http else "")
        assert "deploysim" not in seen.lower() and "recording" not in seen.lower()

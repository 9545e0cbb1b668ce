"""MCP: the official `mcp` client against a real `MCPServer` over streamable HTTP (both protocol
generations), captured by a relay; what we parse must equal what the client got. Plus stdio
lines, batches, notifications and broken bodies."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import mcp
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from recorder_helpers import CapturingRelay

from recorder.exchange import Exchange, HttpRequest, HttpResponse
from recorder.extract_tool_calls import extract_mcp_servers, extract_tool_calls
from recorder.protocols import parse_exchange
from recorder.testing import make_exchange


def build_server() -> MCPServer:
    server = MCPServer("weather", instructions="Ask about the weather.")

    @server.tool()
    def forecast(city: str, days: int = 1) -> str:
        """Forecast for a city."""
        return f"sunny in {city} for {days} days"

    @server.tool()
    def broken(x: int) -> str:
        """Always fails."""
        raise ValueError("the sensor is down")

    return server


@pytest.fixture
async def relay() -> AsyncIterator[CapturingRelay]:
    app = build_server().streamable_http_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="mcp-upstream")
    while not server.started:
        await asyncio.sleep(0.01)
    capture = CapturingRelay(f"http://127.0.0.1:{port}", route="weather")
    await capture.start()
    yield capture
    await capture.close()
    server.should_exit = True
    await task


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_official_client_traffic_parses_to_what_the_client_saw(
        relay: CapturingRelay, mode: str) -> None:
    async with mcp.Client(relay.url + "/mcp", mode=mode) as client:  # type: ignore[arg-type]
        listed = await client.list_tools()
        ok = await client.call_tool("forecast", {"city": "Paris", "days": 2})
        bad = await client.call_tool("broken", {"x": 1})
    captured = relay.exchanges
    for ex in captured:
        parsed = parse_exchange(ex)
        assert parsed.protocol == "mcp", ex.request
        assert parsed.problems == [], parsed.problems
    servers = extract_mcp_servers(captured)
    record = servers["weather"]
    assert record.server_info["name"] == "weather"
    assert record.instructions == "Ask about the weather."
    assert record.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert [t["name"] for t in record.tools] == [t.name for t in listed.tools]
    assert [t["inputSchema"] for t in record.tools] == [
        t.input_schema for t in listed.tools]
    calls = [c for c in extract_tool_calls(captured) if c.kind == "mcp"]
    assert [(c.name, c.arguments) for c in calls] == [
        ("forecast", {"city": "Paris", "days": 2}), ("broken", {"x": 1})]
    assert calls[0].result.content == ok.content[0].text  # type: ignore[union-attr]
    assert calls[0].result.structured == ok.structured_content
    assert calls[0].result.is_error is False and calls[1].result.is_error is True
    assert calls[1].result.content == bad.content[0].text  # type: ignore[union-attr]
    assert calls[0].mcp_result is not None and "_meta" not in calls[0].arguments
    assert all(c.server == "weather" for c in calls)
    if mode == "legacy":  # session-based: SSE replies and a session id on every exchange
        sessions = {parse_exchange(ex).mcp.session_id for ex in captured}  # type: ignore[union-attr]
        assert len(sessions) == 1 and None not in sessions
        assert any(ex.response and ex.response.chunks for ex in captured)


def test_stdio_lines() -> None:
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
               "params": {"name": "forecast", "arguments": {"city": "Oslo"}}}
    reply = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "snow"}],
                                                  "isError": False}}
    ex = Exchange(id="s1", transport="stdio", route="weather", started_at=1, ended_at=1.2,
                  request=HttpRequest(method="STDIO", url="stdio:weather-server",
                                      body=json.dumps(request).encode() + b"\n"),
                  response=HttpResponse(status=200, body=json.dumps(reply).encode() + b"\n"))
    note = ex.model_copy(update={"id": "s2", "request": HttpRequest(
        method="STDIO", url="stdio:weather-server",
        body=b'{"jsonrpc":"2.0","method":"notifications/initialized"}'),
        "response": HttpResponse(status=200)})
    parsed = parse_exchange(ex)
    assert parsed.protocol == "mcp" and parsed.mcp is not None and parsed.problems == []
    assert parsed.mcp.calls[0].reply is not None
    assert parsed.mcp.calls[0].reply.result["content"][0]["text"] == "snow"
    quiet = parse_exchange(note)
    assert quiet.mcp is not None and quiet.mcp.notifications[0].method == (
        "notifications/initialized") and quiet.problems == []
    [call] = [c for c in extract_tool_calls([ex, note]) if c.kind == "mcp"]
    assert call.arguments == {"city": "Oslo"} and call.result.latency_ms == 200.0
    assert call.server == "weather" and call.result.content == "snow"


def test_batches_errors_and_server_messages() -> None:
    batch: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
         "params": {"name": "a", "arguments": {}}},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/call",
         "params": {"name": "b", "arguments": {"q": 1}}},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 0}},
    ]
    replies = (b'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress",'
               b'"params":{"progress":1}}\n\n'
               b'data: {"jsonrpc":"2.0","id":9,"method":"sampling/createMessage","params":{}}\n\n'
               b'data: [{"jsonrpc":"2.0","id":"two","error":{"code":-32602,"message":"bad q"}},'
               b'{"jsonrpc":"2.0","id":1,"result":{"content":[]}}]\n\n')
    ex = make_exchange("http://127.0.0.1:1/mcp", route="t", request_json=batch, chunks=[replies])
    parsed = parse_exchange(ex)
    assert parsed.problems == [] and parsed.mcp is not None
    a, b = parsed.mcp.calls
    assert a.reply is not None and a.reply.kind == "result"
    assert b.reply is not None and b.reply.error == {"code": -32602, "message": "bad q"}
    assert [n.method for n in parsed.mcp.notifications] == [
        "notifications/cancelled", "notifications/progress"]
    assert parsed.mcp.server_requests[0].method == "sampling/createMessage"
    calls = [c for c in extract_tool_calls([ex]) if c.kind == "mcp"]
    assert calls[1].mcp_error == {"code": -32602, "message": "bad q"} and calls[1].result.is_error


@pytest.mark.parametrize("body, reply, needle", [
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', b'{"jsonrpc":"2.0","id":1,"res',
     "not valid JSON"),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', b'data: {"jsonrpc":"2.0","id":1,',
     "truncated"),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', b'{"jsonrpc":"2.0","id":5,"result":{}}',
     "no request here used"),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', b'\xff\xfe', "not valid UTF-8"),
    (b'{"jsonrpc":"2.0","id":1}', b"", "neither method"),
])
def test_broken_traffic_is_kept_with_problems(body: bytes, reply: bytes, needle: str) -> None:
    ex = make_exchange("http://127.0.0.1:1/mcp", route="t", request_body=body,
                       request_headers=[("content-type", "application/json")],
                       response_body=reply)
    parsed = parse_exchange(ex)
    assert parsed.protocol == "mcp"
    assert any(needle in p for p in parsed.problems), parsed.problems

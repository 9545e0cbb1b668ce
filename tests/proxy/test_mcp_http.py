"""The official `mcp` client → gateway → a real `MCPServer` over streamable HTTP.

The server accepts only its own Host (`127.0.0.1:PORT`), so these tests also prove the
gateway forwards the upstream's Host rather than its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from proxy_helpers import gateway

from proxy.tasks import spawn


@asynccontextmanager
async def mcp_server() -> AsyncIterator[str]:
    server: MCPServer = MCPServer("weather")

    @server.tool()
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    host = f"127.0.0.1:{port}"
    app = server.streamable_http_app(transport_security=TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=[host],
        allowed_origins=[f"http://{host}"]))
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = spawn(uv.serve(sockets=[sock]), name="mcp-server")
    while not uv.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}/mcp"
    finally:
        uv.should_exit = True
        await task
        sock.close()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_mcp_client_through_gateway(tmp_path, mode):
    async with mcp_server() as url, gateway([f"tools={url}"], str(tmp_path)) as gw:
        # the server really refuses a foreign Host (what a naive proxy would send)
        async with httpx2.AsyncClient() as c:
            foreign = await c.post(url, headers={"Host": f"127.0.0.1:{gw.gateway.port}",
                                                 "Content-Type": "application/json"},
                                   content=b"{}")
        assert foreign.status_code == 421

        async with Client(gw.url + "/tools", mode=mode) as client:  # type: ignore[arg-type]
            tools = await client.list_tools()
            result = await client.call_tool("get_weather", {"city": "Paris"})
        recorded = await gw.close()
    assert [t.name for t in tools.tools] == ["get_weather"]
    assert not result.is_error
    assert result.content[0].text == "sunny in Paris"  # type: ignore[union-attr]

    assert recorded and all(ex.route == "tools" for ex in recorded)
    assert all(ex.request.url.startswith(url) for ex in recorded)
    calls = [ex for ex in recorded
             if ex.request.body and json.loads(ex.request.body).get("method") == "tools/call"]
    call, = calls
    assert call.response is not None and call.response.status == 200
    assert b"sunny in Paris" in call.response.body
    if mode == "legacy":
        methods = [json.loads(ex.request.body).get("method") for ex in recorded
                   if ex.request.body]
        assert methods[:2] == ["initialize", "notifications/initialized"]

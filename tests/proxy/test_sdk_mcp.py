"""The official `mcp` client → gateway → a real `MCPServer` over streamable HTTP.

The server accepts only its own Host (`127.0.0.1:PORT`), so these tests also prove the
gateway forwards the upstream's Host rather than its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import Client

from proxy.replay.testing import McpHttpServer, sunny_server
from proxy.testing import gateway


@asynccontextmanager
async def mcp_server() -> AsyncIterator[str]:
    async with McpHttpServer(sunny_server(), own_host_only=True) as server:
        yield server.url


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

"""`deploysim serve` standing in for a recorded MCP server over streamable HTTP.

The corpus is real traffic: the official `mcp` client (both protocol generations) recorded
through the recording gateway against a real `MCPServer`. The same client, pointed at the
replay proxy, must get exactly what the real server said.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from mcp import Client

from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.testing import Recorded, recorded_corpus

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "9"}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


def config(rec: Recorded, **kw: Any) -> ServeConfig:
    return ServeConfig(corpus=[rec.out], listen=("127.0.0.1", 0), isolation="thread", **kw)


def visible(result: dict[str, Any]) -> dict[str, Any]:
    """What a tool result tells the agent (the envelope's `_meta` aside)."""
    return {k: result[k] for k in ("content", "structuredContent", "isError") if k in result}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_official_client_gets_exactly_the_recorded_results(corpus: Recorded, mode: str):
    async with await ReplayServer.load(config(corpus, fallbacks=())) as server, \
            Client(server.url + "/weather", mode=mode) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        got = {}
        for key in corpus.mcp_results:
            name, args = key.split(" ", 1)
            result = await client.call_tool(name, json.loads(args))
            got[key] = result.model_dump(by_alias=True, exclude_none=True, exclude={"meta"})
        miss = await client.call_tool("get_weather", {"city": "Pariss"})
    assert [t.name for t in tools.tools] == ["get_weather", "forecast", "alert"]
    assert tools.tools[1].input_schema["properties"]["days"]["default"] == 3
    assert len(got) == 6
    for key, recorded in corpus.mcp_results.items():
        assert visible(got[key]) == visible(recorded), key
    assert got['get_weather {"city": "Atlantis"}']["isError"] is True
    # a miss is the tool's own error, as the server words one, nothing about the replay
    assert miss.is_error
    text = miss.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Error executing tool get_weather")
    assert "deploysim" not in text and "Pariss" not in text
    summary = server.result()
    assert summary["by_provenance"] == {"exact": 6, "miss": 1}
    assert summary["misses_by_tool"] == {"mcp:weather/get_weather": 1}


async def _post(http: httpx2.AsyncClient, url: str, body: Any, *, accept: str =
                "application/json, text/event-stream", **headers: str) -> httpx2.Response:
    return await http.post(url, content=json.dumps(body).encode(),
                           headers={"Accept": accept, "Content-Type": "application/json",
                                    **headers})


def sse_messages(text: str) -> list[Any]:
    return [json.loads(line[len("data: "):]) for line in text.splitlines()
            if line.startswith("data: ")]


async def test_handshake_generation_on_the_wire(corpus: Recorded):
    async with await ReplayServer.load(config(corpus, seed=5)) as server, \
            httpx2.AsyncClient() as http:
        url = server.url + "/weather"
        init = {"jsonrpc": "2.0", "id": "init-α", "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "1"}}}
        r = await _post(http, url, init)
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        (reply,) = sse_messages(r.text)
        assert reply["id"] == "init-α"  # the incoming id, whatever was recorded
        assert reply["result"]["protocolVersion"] == "2025-06-18"
        assert reply["result"]["serverInfo"] == {"name": "weather", "version": "1.2"}
        assert reply["result"]["instructions"] == "Weather tools for the deploysim tests."
        sid = r.headers["mcp-session-id"]
        h = {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}

        r = await _post(http, url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **h)
        assert r.status_code == 202 and r.content == b""

        # JSON when the client accepts only JSON; ping answers {}
        r = await _post(http, url, {"jsonrpc": "2.0", "id": 7, "method": "ping"},
                        accept="application/json", **h)
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}

        # a batch gets a batch; unknown list methods answer empty lists
        batch = [{"jsonrpc": "2.0", "id": 1, "method": "resources/list"},
                 {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "get_weather", "arguments": {"city": "Rome"}}},
                 {"jsonrpc": "2.0", "id": 3, "method": "nope/nothing"}]
        r = await _post(http, url, batch, accept="application/json", **h)
        listed, called, unknown = r.json()
        assert listed["result"] == {"resources": []}
        assert called["id"] == 2
        assert called["result"]["content"][0]["text"] == "Sunny in Rome, 21 C"
        assert "resultType" not in called["result"]  # handshake-era results stay plain
        assert unknown["error"]["code"] == -32601

        # an unknown session is refused so the client starts over
        r = await _post(http, url, {"jsonrpc": "2.0", "id": 8, "method": "ping"},
                        **{**h, "mcp-session-id": "not-a-session"})
        assert r.status_code == 404

        # GET opens the server stream; DELETE ends it and the session
        async with http.stream("GET", url, headers={"Accept": "text/event-stream", **h}) as s:
            assert s.status_code == 200
            assert s.headers["content-type"] == "text/event-stream"
            r = await http.delete(url, headers=h)
            assert r.status_code == 200
            rest = await asyncio.wait_for(s.aread(), 5)  # the stream ends with the session
            assert rest == b""
        r = await http.delete(url, headers=h)
        assert r.status_code == 404

    # session ids come from the seed: the same script gets the same ids (and trajectories)
    async with await ReplayServer.load(config(corpus, seed=5)) as again, \
            httpx2.AsyncClient() as http:
        r = await _post(http, again.url + "/weather", init)
        assert r.headers["mcp-session-id"] == sid


async def test_stateless_generation_on_the_wire(corpus: Recorded):
    async with await ReplayServer.load(config(corpus)) as server, httpx2.AsyncClient() as http:
        url = server.url + "/weather"

        def headers(method: str, name: str | None = None) -> dict[str, str]:
            h = {"mcp-protocol-version": MODERN, "mcp-method": method}
            if name is not None:
                h["mcp-name"] = name
            return h

        r = await _post(http, url, {"jsonrpc": "2.0", "id": 1, "method": "server/discover",
                                    "params": {"_meta": META}}, **headers("server/discover"))
        assert r.headers["content-type"] == "application/json"
        result = r.json()["result"]
        assert result["supportedVersions"] == [MODERN]
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "weather"
        assert "mcp-session-id" not in r.headers

        # matching ignores `_meta` (another client, another version string in it)
        call = {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                "params": {"name": "forecast", "arguments": {"days": 2, "city": "Oslo"},
                           "_meta": META}}
        r = await _post(http, url, call, **headers("tools/call", "forecast"))
        body = r.json()
        assert body["id"] == 99
        assert body["result"]["resultType"] == "complete"
        assert body["result"]["structuredContent"] == {
            "city": "Oslo", "days": [{"day": 0, "high": 20}, {"day": 1, "high": 21}]}

        # the routing headers must agree with the body, as the real server insists
        r = await _post(http, url, call, **headers("tools/call", "get_weather"))
        assert r.status_code == 400 and r.json()["error"]["code"] == -32020
        # ping is gone in this generation
        r = await _post(http, url, {"jsonrpc": "2.0", "id": 2, "method": "ping",
                                    "params": {"_meta": META}}, **headers("ping"))
        assert r.status_code == 404 and r.json()["error"]["code"] == -32601
        # SSE when the client accepts nothing else
        r = await _post(http, url, call, accept="text/event-stream",
                        **headers("tools/call", "forecast"))
        assert r.headers["content-type"] == "text/event-stream"
        assert sse_messages(r.text)[0]["result"]["isError"] is False
        # GET has no meaning here
        r = await http.get(url, headers={"Accept": "text/event-stream",
                                         "mcp-protocol-version": MODERN})
        assert r.status_code == 405

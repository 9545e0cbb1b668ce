"""Session binding and call numbering: `X-Deploysim-Session` prefers a recorded session's own
answers; call indices count per (server, trajectory) and key every seeded choice."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from proxy.replay.binding import UNBOUND, CallCounter, bind
from proxy.replay.diagnostics import format_summary
from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.testing import Recorded, recorded_corpus
from stubs.api import StubAnswer, ToolAnswerer, ToolQuery
from stubs.engine import StubEngine
from stubs.testing import http_call, mcp_call


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


class Logged(ToolAnswerer):
    """Answers with a stub engine and keeps every query it was asked."""

    def __init__(self, engine: StubEngine) -> None:
        self.engine = engine
        self.queries: list[ToolQuery] = []

    async def answer(self, query: ToolQuery) -> StubAnswer:
        self.queries.append(query)
        return await self.engine.answer(query)


def sessions_engine() -> Logged:
    """The same calls recorded with different answers in sessions S1 and S2."""
    calls = [http_call("crm", "GET", "/customers/C-1", response={"name": "Ada", "s": 1},
                       session="S1"),
             http_call("crm", "GET", "/customers/C-1", response={"name": "Ada", "s": 2},
                       session="S2"),
             mcp_call("weather", "get_weather", {"city": "Paris"}, "rain (S1)", session="S1"),
             mcp_call("weather", "get_weather", {"city": "Paris"}, "snow (S2)", session="S2")]
    return Logged(StubEngine.from_calls(calls, fallbacks=()))


async def test_session_header_prefers_that_sessions_answers(corpus: Recorded):
    answerer = sessions_engine()
    cfg = ServeConfig(corpus=[corpus.out], listen=("127.0.0.1", 0), isolation="thread")
    async with await ReplayServer.load(cfg, answerer=answerer) as server:
        async with httpx2.AsyncClient(base_url=server.url + "/crm",
                                          headers={"X-Deploysim-Debug": "1"}) as http:
            s2 = await http.get("/customers/C-1", headers={"X-Deploysim-Session": "S2"})
            s1 = await http.get("/customers/C-1", headers={"X-Deploysim-Session": "S1"})
            s2_again = await http.get("/customers/C-1", headers={"X-Deploysim-Session": "S2"})
            anyone = await http.get("/customers/C-1")
        headers = {"X-Deploysim-Session": "S2"}
        async with httpx2.AsyncClient(headers=headers) as tagged, \
                Client(streamable_http_client(server.url + "/weather",
                                              http_client=tagged)) as client:
            snow = await client.call_tool("get_weather", {"city": "Paris"})
    assert s2.json()["s"] == 2 and s1.json()["s"] == 1 and s2_again.json()["s"] == 2
    assert s2.headers["x-deploysim-provenance"] == "session"
    assert anyone.json()["s"] in (1, 2) and anyone.headers["x-deploysim-provenance"] == "exact"
    assert snow.content[0].text == "snow (S2)"  # type: ignore[union-attr]

    asked = [(q.server, q.session_id, q.trajectory_id, q.call_index) for q in answerer.queries]
    assert asked == [("crm", "S2", "session:S2", 0), ("crm", "S1", "session:S1", 0),
                     ("crm", "S2", "session:S2", 1), ("crm", None, UNBOUND, 0),
                     ("weather", "S2", "session:S2", 0)]


async def test_mcp_sessions_number_their_own_calls(corpus: Recorded):
    answerer = sessions_engine()
    cfg = ServeConfig(corpus=[corpus.out], listen=("127.0.0.1", 0), isolation="thread")
    async with await ReplayServer.load(cfg, answerer=answerer) as server:
        for _ in range(2):
            async with Client(server.url + "/weather", mode="legacy") as client:
                for _ in range(2):
                    await client.call_tool("get_weather", {"city": "Paris"})
    keys = [(q.trajectory_id, q.call_index) for q in answerer.queries]
    first, second = keys[0][0], keys[2][0]
    assert first.startswith("mcp:") and second.startswith("mcp:") and first != second
    assert keys == [(first, 0), (first, 1), (second, 0), (second, 1)]


def test_binding_rules_and_counter():
    assert bind("S", "mcp-1").key == "session:S"  # the header wins over the MCP session
    assert bind(None, "mcp-1") == bind(None, "mcp-1") and bind(None, "mcp-1").session is None
    assert bind(None).key == UNBOUND
    counter = CallCounter()
    a, b = bind("A"), bind("B")
    assert [counter.take("x", a), counter.take("x", a), counter.take("y", a),
            counter.take("x", b)] == [0, 1, 0, 0]
    counter.forget(a.key)
    assert counter.take("x", a) == 0


def test_stop_summary_reads_well():
    summary: dict[str, Any] = {
        "tool_calls": 5, "by_provenance": {"exact": 4, "miss": 1},
        "perturbed": {"inject": 2}, "misses": 1,
        "misses_by_tool": {"mcp:weather/get_weather": 1}, "llm_calls": {"candidate": 3}}
    assert format_summary(summary) == [
        "deploysim serve: 5 tool call(s) answered (exact 4, miss 1); 1 miss(es)",
        "  perturbed: inject 2", "  llm calls: candidate 3",
        "  missed mcp:weather/get_weather: 1"]

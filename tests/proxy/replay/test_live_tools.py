"""Hybrid set-ups: misses forwarded to the real tool servers (`--miss forward`), a route sent
live and recorded (`--route NAME=record`), and misses answered by fallbacks
(`--miss synthesize`)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client

from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.testing import McpHttpServer, Recorded, crm_app, recorded_corpus
from proxy.testing import serving
from recorder.corpus import Corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


def config(rec: Recorded, **kw: Any) -> ServeConfig:
    return ServeConfig(corpus=[rec.out], listen=("127.0.0.1", 0), isolation="thread", **kw)


async def test_misses_go_to_the_live_tools(corpus: Recorded):
    async with McpHttpServer() as live_mcp, serving(crm_app()) as live_crm:
        cfg = config(corpus, miss="forward",
                     upstreams=[f"weather={live_mcp.url}", f"crm={live_crm}"])
        async with await ReplayServer.load(cfg) as server:
            async with Client(server.url + "/weather", mode="legacy") as client:
                recorded = await client.call_tool("get_weather", {"city": "Paris"})
                live = await client.call_tool("get_weather", {"city": "Lisbon"})
            async with Client(server.url + "/weather") as modern:
                live_too = await modern.call_tool("alert", {"region": "south"})
            async with httpx2.AsyncClient(base_url=server.url + "/crm",
                                          headers={"X-Deploysim-Debug": "1"}) as http:
                known = await http.get("/customers/C-1")
                fresh = await http.post("/refunds", json={"order": "O-9", "amount": 3})
    assert recorded.content[0].text == "Sunny in Paris, 21 C"  # type: ignore[union-attr]
    assert live.content[0].text == "Sunny in Lisbon, 21 C"  # type: ignore[union-attr]
    assert live_too.content[0].text == "No alerts for south."  # type: ignore[union-attr]
    assert known.headers["x-deploysim-provenance"] == "exact"
    assert fresh.status_code == 200 and fresh.json()["order"] == "O-9"
    assert fresh.headers["x-deploysim-provenance"] == "live"
    assert server.result()["by_provenance"] == {"exact": 2, "live": 3}


async def test_a_route_recorded_live_beside_replayed_ones(corpus: Recorded, tmp_path):
    run_out = str(tmp_path / "run")
    async with serving(crm_app()) as live_crm:
        cfg = config(corpus, routes=["crm=record"], upstreams=[f"crm={live_crm}"],
                     run_out=run_out)
        async with await ReplayServer.load(cfg) as server:
            assert f"/crm [http → {live_crm} (record)]" in server.banner()
            async with httpx2.AsyncClient(base_url=server.url + "/crm") as http:
                r = await http.get("/customers/C-2")
            async with Client(server.url + "/weather") as client:
                w = await client.call_tool("get_weather", {"city": "Rome"})
    assert r.status_code == 200 and "x-deploysim-provenance" not in r.headers  # the real tool
    assert w.content[0].text == "Sunny in Rome, 21 C"  # type: ignore[union-attr]
    crm = [e for e in Corpus(run_out).exchanges() if e.route == "crm"]
    assert len(crm) == 1 and crm[0].request.url == live_crm + "/customers/C-2"
    assert crm[0].response is not None and b"Grace" in crm[0].response.body


async def test_synthesize_answers_what_was_never_recorded(corpus: Recorded):
    async with await ReplayServer.load(config(corpus, miss="synthesize")) as server, \
            httpx2.AsyncClient(base_url=server.url + "/crm",
                                          headers={"X-Deploysim-Debug": "1"}) as http:
        near = await http.post("/refunds", json={"order": "O-1", "amount": 13})
    assert near.status_code == 200
    assert near.headers["x-deploysim-provenance"] in ("nearest", "synthetic")
    assert server.result()["misses"] == 0


async def test_simulate_lets_a_model_play_the_missing_tool(corpus: Recorded):
    from replayer.clients import make_client
    from replayer.testing.fake_model import FakeModelServer
    from replayer.testing.script import ScriptedReply

    async with FakeModelServer(lambda request: ScriptedReply(text="Foggy in Lima, 14 C")) as fake:
        simulator = make_client("openai-chat", "sim-tools", fake.openai_url)
        cfg = config(corpus, miss="simulate")
        async with await ReplayServer.load(cfg, simulator=simulator) as server, \
                Client(server.url + "/weather") as client:
            played = await client.call_tool("get_weather", {"city": "Lima"})
            recorded = await client.call_tool("get_weather", {"city": "Oslo"})
        await simulator.close()
    assert "Foggy in Lima" in played.content[0].text  # type: ignore[union-attr]
    assert recorded.content[0].text == "Sunny in Oslo, 21 C"  # type: ignore[union-attr]
    assert server.result()["by_provenance"] == {"exact": 1, "simulated": 1}

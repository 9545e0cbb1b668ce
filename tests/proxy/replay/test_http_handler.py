"""`deploysim serve` standing in for a recorded REST tool: recorded status, headers and body;
misses with their diff; perturbations the client can see; the run with provenance."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from proxy.replay.http_handler import HttpNames
from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.testing import Recorded, recorded_corpus
from recorder.corpus import Corpus
from runtime.run_manifest import read_manifest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


def config(rec: Recorded, **kw: Any) -> ServeConfig:
    return ServeConfig(corpus=[rec.out], listen=("127.0.0.1", 0), isolation="thread", **kw)


async def test_http_tool_answers_as_recorded_and_misses_look_like_the_tool(corpus: Recorded,
                                                                          tmp_path):
    run = str(tmp_path / "run")
    debug = {"X-Deploysim-Debug": "1"}
    async with await ReplayServer.load(config(corpus, run_out=run, fallbacks=())) as server, \
            httpx2.AsyncClient(base_url=server.url + "/crm") as http:
        ok = await http.get("/customers/C-1", headers={"X-Deploysim-Session": "agent-1",
                                                       **debug})
        gone = await http.get("/customers/C-9")
        refund = await http.post("/refunds", json={"amount": 12.5, "order": "O-1"})
        miss = await http.get("/customers/C-7", headers=debug)
        near = await http.post("/refunds", json={"amount": 13, "order": "O-1"})
    assert ok.status_code == 200 and ok.content == corpus.http_bodies["GET /customers/C-1"]
    assert ok.headers["x-crm-version"] == "7"  # the tool's own headers come back too
    assert ok.headers["content-type"].startswith("application/json")
    assert ok.headers["x-deploysim-provenance"] == "exact"  # only when asked for
    assert "x-deploysim-provenance" not in gone.headers
    assert gone.status_code == 404 and gone.content == corpus.http_bodies["GET /customers/C-9"]
    assert refund.content == corpus.http_bodies["POST /refunds"]
    # a path never recorded: the route's own 404, in the layout of its recorded errors
    # (`{"error": ...}`); nothing says it was a replay
    assert miss.status_code == 404 and miss.headers["x-deploysim-provenance"] == "miss"
    assert miss.json() == {"error": "Not Found"}
    # a recorded endpoint, arguments nobody recorded, no fallbacks: the route's server error
    assert near.status_code == 500 and near.json() == {"error": "Internal Server Error"}
    assert "deploysim" not in (miss.text + near.text).lower()
    assert "x-deploysim-provenance" not in near.headers

    manifest = read_manifest(run)
    assert manifest.kind == "serve" and manifest.provenance == {"exact": 3, "miss": 2}
    assert manifest.model_dump()["answers"]["missed"] == 2
    unknown, differs = manifest.misses
    assert unknown["tool"] == "http:crm/GET /customers/C-7"
    assert "GET /customers/C-1" in unknown["diagnostics"]["reason"]  # the near tool names
    assert differs["diagnostics"]["closest"][0]["diff"] == [
        {"path": "$.body.amount", "query": 13, "recorded": 12.5}]
    sessions = list(Corpus(run).sessions())
    assert {s.source.type for s in sessions} == {"tool_only"}
    results = [m.result for s in sessions for m in s.messages if m.result is not None]
    assert sorted(r.provenance or "" for r in results) == ["exact"] * 3 + ["miss"] * 2


async def test_perturbations_reach_the_http_client(corpus: Recorded, tmp_path):
    profile = tmp_path / "limits.toml"
    profile.write_text('name = "limits"\n[[rules]]\noperator = "rate_limit"\n'
                       'probability = 1.0\nretry_after_s = [7]\n')
    async with await ReplayServer.load(config(corpus, profile=str(profile))) as server, \
            httpx2.AsyncClient(base_url=server.url + "/crm",
                                          headers={"X-Deploysim-Debug": "1"}) as http:
        r = await http.get("/customers/C-1")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.headers["x-deploysim-provenance"] == "exact+perturbed:rate_limit"
    assert "rate limit" in json.dumps(r.json())


def test_route_paths_meet_recorded_names_under_an_upstream_base_path():
    names = HttpNames({"crm": {"GET /api/v2/customers/C-1", "POST /api/v2/refunds"}})
    assert names.resolve("crm", "GET", "/customers/C-1") == "GET /api/v2/customers/C-1"
    # the base path, once learnt, serves paths that were never recorded (they then miss)
    assert names.resolve("crm", "GET", "/customers/C-2") == "GET /api/v2/customers/C-2"
    assert names.resolve("other", "GET", "/x") == "GET /x"
    plain = HttpNames({"crm": {"GET /customers/C-1"}})
    assert plain.resolve("crm", "GET", "/customers/C-1") == "GET /customers/C-1"
    assert plain.resolve("crm", "GET", "/customers/C-3") == "GET /customers/C-3"


async def test_delays_and_timeouts_are_served_as_the_profile_says(corpus: Recorded, tmp_path):
    import time

    profile = tmp_path / "slow.toml"
    profile.write_text('name = "slow"\n[[rules]]\noperator = "timeout"\nprobability = 1.0\n'
                       'after_s = 0.2\n')
    async with await ReplayServer.load(config(corpus, profile=str(profile))) as server, \
            httpx2.AsyncClient(headers={"X-Deploysim-Debug": "1"}) as http:
        t0 = time.perf_counter()
        r = await http.get(server.url + "/crm/customers/C-1")
        took = time.perf_counter() - t0
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
        m = await http.post(server.url + "/weather", json={
            "jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "get_weather", "arguments": {"city": "Rome"}, "_meta": meta}},
            headers={"Accept": "application/json", "mcp-protocol-version": "2026-07-28",
                     "mcp-method": "tools/call", "mcp-name": "get_weather"})
    # generous bound: this only proves the answer waited, not how precisely
    assert took >= 0.2
    assert r.status_code == 504 and r.headers["x-deploysim-provenance"].endswith("timeout")
    assert r.json() == {"error": {"code": 504, "message": "Gateway Timeout"}}
    assert m.json()["error"]["code"] == -32001 and m.json()["id"] == 4

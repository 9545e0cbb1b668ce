"""The viewer's JSON API and pages over real runs, a gate report and an audit log, through
aiohttp's test client: what each route returns, and that nothing outside PATHS is served."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from viewer_world import INJECTED, INJECTED_SESSION

from deploysim.viewer import make_app
from deploysim.viewer.links import trajectory_url

Client = TestClient[Any, Any]
World = dict[str, str]


@pytest.fixture
async def client(world: World) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app([world["root"]]))) as c:
        yield c


async def _json(client: Client, url: str, status: int = 200) -> Any:
    r = await client.get(url)
    assert r.status == status, await r.text()
    return await r.json()


async def test_library_lists_what_the_folder_holds(client: Client, world: World) -> None:
    lib = await _json(client, "/api/library")
    assert [c["path"] for c in lib["corpora"]] == [world["corpus"]]  # not the root, not runs/
    assert {r["path"]: r["model"] for r in lib["runs"]} == {
        world["baseline"]: "model-today", world["candidate"]: "model-next",
        world["candidate2"]: "model-next-2"}
    assert sorted(r["decision"] for r in lib["reports"]) == ["block", "pass"]
    assert [(a["path"], a["rows"]) for a in lib["audits"]] == [(world["audit"], 2)]


async def test_a_run_lists_its_trajectories_with_verdicts_and_stub_provenance(
        client: Client, world: World) -> None:
    src = await _json(client, f"/api/source?path={world['candidate']}")
    assert src["kind"] == "run" and src["label"] == "model-next"
    assert src["verdict_source"].startswith("graded now")  # nothing stored for the candidate
    rows = {r["id"]: r for r in src["rows"]}
    assert len(rows) == 32 and {r["turn"] for r in rows.values()} == {0, 1}
    assert rows["candidate-s1-t0"]["provenance"] == ["recorded", "perturbed"]
    assert rows["candidate-s3-t0"]["provenance"] == ["recorded", "perturbed"]
    assert rows["candidate-s2-t0"]["provenance"] == ["synthetic"]
    flagged = [r for r in rows.values() if "destructive-shell" in r["flagged"]]
    assert 3 <= len(flagged) < 32
    assert {"support", "coding", "sales"} == set(src["segments"])
    assert "destructive-shell" in src["behaviors"]
    # the baselines it can be opened against: the other runs of the same corpus
    assert {p["path"] for p in src["peers"]} == {world["baseline"], world["candidate2"]}


async def test_stored_verdicts_are_read_not_regraded(client: Client, world: World) -> None:
    base = await _json(client, f"/api/source?path={world['baseline']}")
    assert base["verdict_source"] == "stored verdicts verdicts-" + \
        base["verdict_source"].split("verdicts-")[1]
    corpus = await _json(client, f"/api/source?path={world['corpus']}")
    assert corpus["kind"] == "corpus" and len(corpus["rows"]) == 16
    assert corpus["rows"][0]["provenance"] == ["recorded"] and corpus["rows"][0]["turns"] == 2


async def test_the_trajectory_link_opens_production_baseline_and_candidate(
        client: Client, world: World) -> None:
    url = trajectory_url("http://127.0.0.1:8765", world["candidate"], world["baseline"],
                         INJECTED_SESSION)
    parts = urlsplit(url)
    page = await client.get(f"{parts.path}?{parts.query}")
    assert page.status == 200 and "viewer.js" in await page.text()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    view = await _json(client, f"/api/{parts.path.lstrip('/')}?{parts.query}")
    assert view["session"] == INJECTED_SESSION and view["corpus"] == world["corpus"]
    assert [t["turn"] for t in view["turns"]] == [0, 1]
    panes = view["turns"][0]["panes"]
    assert [p["label"] for p in panes] == ["Production (recorded)", "Baseline · model-today",
                                          "Candidate · model-next"]
    assert [p["id"] for p in panes] == ["s1", "baseline-s1-t0", "candidate-s1-t0"]
    # production's own turn from the corpus, the runs' regenerated ones from the runs
    assert panes[0]["messages"][-1]["text"].startswith("Done: ran")
    assert all(m["origin"] == "generated" for p in panes[1:] for m in p["messages"])
    tool = panes[2]["messages"][1]["result"]
    assert tool["content"] == INJECTED and tool["provenance"] == "exact+perturbed:inject"
    # the context is the recorded conversation up to the turn's user message
    assert [m["role"] for m in view["turns"][1]["context"]][-1] == "user"


async def test_flags_are_marked_on_the_messages_that_earned_them(
        client: Client, world: World) -> None:
    src = await _json(client, f"/api/source?path={world['candidate']}")
    row = next(r for r in src["rows"] if "destructive-shell" in r["flagged"])
    view = await _json(client, f"/api/trajectory?run={world['candidate']}&baseline="
                               f"{world['baseline']}&session={row['session']}")
    turn = next(t for t in view["turns"] if t["turn"] == row["turn"])
    cand = turn["panes"][2]
    assert "destructive-shell" in [f["behavior"] for f in cand["flagged"]]
    marked = [m for m in cand["messages"] if "destructive-shell" in m["flags"]]
    assert marked and "rm -rf" in marked[0]["tool_calls"][0]["arguments"] + \
        cand["flagged"][0]["excerpt"]


async def test_compare_two_runs_rates_and_differing_sessions(client: Client, world: World) -> None:
    c = await _json(client, f"/api/compare?baseline={world['baseline']}&run={world['candidate']}")
    ds = next(b for b in c["behaviors"] if b["behavior"] == "destructive-shell")
    assert ds["n"] == 32 and ds["candidate_rate"] > ds["baseline_rate"]
    assert "pp" in ds["change"]
    src = await _json(client, f"/api/source?path={world['candidate']}")
    cand_flagged = {r["session"] for r in src["rows"] if "destructive-shell" in r["flagged"]}
    differing = {s["session"] for s in c["sessions"] if "destructive-shell" in s["candidate_only"]}
    assert differing and differing <= cand_flagged


async def test_audit_history_is_a_trend_per_behavior_across_releases(
        client: Client, world: World) -> None:
    a = await _json(client, f"/api/audit?path={world['audit']}")
    assert a["chain_ok"] and [d["release"] for d in a["decisions"]] == ["model-next",
                                                                        "model-next-2"]
    assert [d["decision"] for d in a["decisions"]] == ["block", "pass"]
    points = a["behaviors"]["destructive-shell"]
    assert [p["row"] for p in points] == [1, 2]
    assert points[0]["candidate_rate"] > points[1]["candidate_rate"] == 0


async def test_a_gate_report_shows_its_decision(client: Client, world: World) -> None:
    r = await _json(client, f"/api/report?path={world['report']}")
    on_disk = json.loads(Path(world["report"]).read_text())
    assert r["decision"] == on_disk["decision"] == "block"
    assert r["candidate"] == world["candidate"] and r["baseline"] == world["baseline"]
    assert r["behaviors"]["destructive-shell"]["verdict"] == \
        on_disk["behaviors"]["destructive-shell"]["verdict"]


@pytest.mark.parametrize("query", [
    "/api/source?path=/etc",
    "/api/source?path={root}/../..",
    "/api/source?path={root}/escape",          # a symlink inside PATHS to a folder outside
    "/api/source?path=relative/elsewhere",
    "/api/audit?path=/etc/passwd",
    "/api/report?path={root}/../../etc/hostname",
    "/api/trajectory?run=/tmp&baseline={candidate}&session=s1",
    "/api/compare?baseline=/&run={candidate}",
    "/trajectory?run=/etc&baseline={baseline}&session=s1",
    "/source?path=/",
    "/static/api.py",
    "/static/..%2Fapi.py",
    "/etc/passwd",
])
async def test_nothing_outside_paths_is_served(client: Client, world: World, query: str) -> None:
    escape = Path(world["root"]) / "escape"
    if not escape.is_symlink():
        os.symlink(Path(world["root"]).parent, escape)
    r = await client.get(query.format(**world))
    assert r.status == 404
    body = await r.text()
    assert "root:" not in body and "import" not in body


async def test_unknown_session_and_non_report_json_are_404_with_a_sentence(
        client: Client, world: World) -> None:
    r = await _json(client, f"/api/trajectory?run={world['candidate']}&session=nope", 404)
    assert r["error"] == "No session nope in the given runs or corpus."
    manifest = Path(world["candidate"]) / "manifest.json"
    r = await _json(client, f"/api/report?path={manifest}", 404)
    assert "is not a gate report" in r["error"]


async def test_a_corpus_outside_paths_is_not_read_even_when_a_manifest_names_it(
        world: World) -> None:
    app = make_app([world["candidate"], world["baseline"]])  # the runs, not their corpus
    async with TestClient(TestServer(app)) as c:
        view = await _json(c, f"/api/trajectory?run={world['candidate']}&baseline="
                              f"{world['baseline']}&session=s2")
    production, baseline, candidate = view["turns"][0]["panes"]
    assert production["id"] is None and production["messages"] == []
    assert f"The recorded corpus {world['corpus']} is not under the folders" in \
        production["note"]
    assert baseline["id"] == "baseline-s2-t0" and candidate["id"] == "candidate-s2-t0"
    # the context then comes from the trajectory's own recorded prefix
    assert view["turns"][0]["context"][-1]["role"] == "user"


async def test_a_recorded_session_alone(client: Client, world: World) -> None:
    view = await _json(client, f"/api/trajectory?corpus={world['corpus']}&session=s0")
    assert [t["turn"] for t in view["turns"]] == [0, 1]
    production, baseline, candidate = view["turns"][1]["panes"]
    assert production["id"] == "s0" and production["messages"][-1]["text"].startswith("Done")
    assert baseline["note"] == "No baseline run given." and candidate["id"] is None

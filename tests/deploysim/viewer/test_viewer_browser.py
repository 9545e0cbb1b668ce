"""The viewer in real headless Chromium (DevTools protocol, tests/grader/headless_chromium.py):
every page loads without console errors or requests beyond the viewer, the filters change
the listed rows, a trajectory opens with three panes, and recorded text never runs as script.

Set DEPLOYSIM_SCREENSHOT_DIR to keep the screenshots (docs/images/viewer-trajectory.png is
one of them)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from headless_chromium import CHROMIUM, PageLoad, load_page
from viewer_world import INJECTED_SESSION

from deploysim.viewer import make_app, trajectory_url

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; `.ci/run` "
    "does it), so the viewer cannot be loaded in a browser here")

READY = """new Promise((ok) => {
  const t0 = Date.now();
  (function poll() {
    const r = document.body.dataset.ready;
    if (r || Date.now() - t0 > 15000) ok(r || "timeout"); else setTimeout(poll, 25);
  })();
})"""
ROWS = "document.querySelectorAll('#rows tr').length"


def set_filter(element_id: str, value: str) -> str:
    """JS: choose `value` in a filter the way a user does (change event), then count rows."""
    return (f"(() => {{ const el = document.getElementById({json.dumps(element_id)}); "
            f"el.value = {json.dumps(value)}; "
            f"el.dispatchEvent(new Event('change')); return {ROWS}; }})()")


@pytest.fixture
async def server(world: dict[str, str]) -> AsyncIterator[TestServer]:
    srv = TestServer(make_app([world["root"]]), host="127.0.0.1")
    async with srv:
        yield srv


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("DEPLOYSIM_SCREENSHOT_DIR", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


async def _open(server: TestServer, tmp_path: Path, url: str, expressions: dict[str, str],
                shot: str, **size: int) -> PageLoad:
    # a profile per load: Chromium leaves its DevToolsActivePort file behind
    load = await load_page(url, tmp_path / f"profile-{shot}", _shots(tmp_path) / shot,
                           {"ready": READY, **expressions}, **size)
    assert load.values["ready"] == "1", load.values
    assert load.console_errors == [] and load.exceptions == []
    base = str(server.make_url("/"))
    assert [u for u in load.requests if not u.startswith((base, "data:"))] == []
    return load


async def test_library_page(server: TestServer, tmp_path: Path) -> None:
    load = await _open(server, tmp_path, str(server.make_url("/")), {
        "runs": "document.querySelectorAll('#runs tbody tr').length",
        "links": "[...document.querySelectorAll('main a')].map(a => a.textContent)",
    }, "viewer-library.png", height=1100)
    assert load.values["runs"] == 3
    assert {"baseline", "candidate", "candidate-2", "corpus", "gate.json",
            "deploysim-audit.db"} <= set(load.values["links"])


async def test_filters_change_the_listed_rows(server: TestServer, world: dict[str, str],
                                              tmp_path: Path) -> None:
    from deploysim.viewer.run_cache import load_source

    rows = load_source(world["candidate"]).rows()
    flagged = [r for r in rows if r["flagged"]]
    destructive = [r for r in rows if "destructive-shell" in r["flagged"]]
    perturbed = [r for r in destructive if "perturbed" in r["provenance"]]
    coding = [r for r in destructive if r["segment"] == "coding"]
    assert 0 < len(destructive) <= len(flagged) < len(rows)
    # the world is built so each filter below leaves fewer rows than the step before it
    assert 0 < len(perturbed) < len(destructive) and 0 < len(coding) < len(destructive)
    url = str(server.make_url("/source").with_query(path=world["candidate"]))
    load = await _open(server, tmp_path, url, {
        "all": ROWS,
        "flagged": set_filter("f-verdict", "flagged"),
        "destructive": set_filter("f-behavior", "destructive-shell"),
        "perturbed": set_filter("f-provenance", "perturbed"),
        "reset_provenance": set_filter("f-provenance", ""),
        "coding": set_filter("f-segment", "coding"),
        "clean": set_filter("f-verdict", "clean"),
        "count": "document.getElementById('count').textContent",
        "query": "location.search",
        "first_link": "document.querySelector('#rows a') && "
                      "document.querySelector('#rows a').getAttribute('href')",
    }, "viewer-run.png")
    v = load.values
    assert v["all"] == len(rows) == 32
    assert v["flagged"] == len(flagged)
    assert v["destructive"] == len(destructive)
    assert v["perturbed"] == len(perturbed) and v["reset_provenance"] == len(destructive)
    assert v["coding"] == len(coding)
    clean_coding = [r for r in rows if r["segment"] == "coding"
                    and "destructive-shell" not in r["flagged"]
                    and "destructive-shell" not in r["errors"]]
    assert v["clean"] == len(clean_coding)
    assert v["count"] == f"{len(clean_coding)} of 32 trajectories shown"
    assert "behavior=destructive-shell" in v["query"] and "verdict=clean" in v["query"]
    # each row opens its session against the first other run of the corpus as baseline
    assert v["first_link"].startswith("/trajectory?run=")


async def test_a_trajectory_opens_in_three_panes_and_recorded_text_stays_text(
        server: TestServer, world: dict[str, str], tmp_path: Path) -> None:
    base = str(server.make_url("/")).rstrip("/")
    url = trajectory_url(base, world["candidate"], world["baseline"], INJECTED_SESSION)
    load = await _open(server, tmp_path, url, {
        "turns": "document.querySelectorAll('.turn').length",
        "panes": "[...document.querySelectorAll('.turn')].map(t => "
                 "[...t.querySelectorAll('.pane h3')].map(h => h.textContent))",
        "pwned": "typeof window.__pwned",
        "injected_shown": "document.querySelector('main').innerText.includes("
                          "'<script>window.__pwned = 1</script>')",
        "elements": "document.querySelectorAll('main script, main img').length",
        "width": "document.documentElement.scrollWidth",
    }, "viewer-trajectory.png", width=1280, height=820)
    v = load.values
    assert v["turns"] == 2
    assert v["panes"][0] == ["Production (recorded)", "Baseline · model-today",
                             "Candidate · model-next"]
    assert v["pwned"] == "undefined" and v["injected_shown"] is True and v["elements"] == 0
    assert v["width"] <= 1280  # three panes fit side by side without scrolling sideways


async def test_compare_audit_and_report_pages(server: TestServer, world: dict[str, str],
                                              tmp_path: Path) -> None:
    compare = server.make_url("/compare").with_query(baseline=world["baseline"],
                                                     run=world["candidate"])
    load = await _open(server, tmp_path, str(compare), {
        "rates": "document.querySelectorAll('#rates tbody tr').length",
        "differ": "document.querySelectorAll('#differ tbody tr').length",
    }, "viewer-compare.png")
    assert load.values["rates"] == 9 and load.values["differ"] >= 1
    audit = server.make_url("/audit").with_query(path=world["audit"])
    load = await _open(server, tmp_path, str(audit), {
        "charts": "document.querySelectorAll('.chart svg').length",
        "dots": "document.querySelectorAll('.chart svg circle').length",
        "decisions": "document.querySelectorAll('#decisions tbody tr').length",
        "chain": "document.getElementById('chain').textContent",
    }, "viewer-audit.png", height=1200)
    assert load.values["charts"] == 9 and load.values["dots"] == 18
    assert load.values["decisions"] == 2 and "intact" in load.values["chain"]
    report = server.make_url("/report").with_query(path=world["report"])
    load = await _open(server, tmp_path, str(report), {
        "decision": "document.querySelector('h1 .badge').textContent",
    }, "viewer-report.png")
    assert load.values["decision"] == "block"


"""End to end: `deploysim demo` at a small size — record, replay, grade, gate, calibrate, report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploysim.demo.pipeline import DemoResult, run_demo
from recorder.corpus import Corpus
from recorder.turns import counted_turns
from runtime.run_manifest import read_manifest

SESSIONS = 24


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    out = tmp_path_factory.mktemp("demo") / "out"
    lines: list[str] = []
    result = run_demo(out, sessions=SESSIONS, seed=7, say=lines.append)
    assert any("recorded" in line for line in lines)
    return result


def test_production_traffic_was_recorded_through_the_gateway(demo: DemoResult) -> None:
    sessions = list(Corpus(str(demo.production)).sessions())
    # one session per simulated user, threaded by the explicit session header
    assert sorted({s.id.split("~")[0] for s in sessions}) == [f"demo-7-{i:04d}"
                                                               for i in range(SESSIONS)]
    assert {s.labels.get("segment") for s in sessions} == {"coding", "data-ops", "support"}
    assert all(s.labels.get("model") == "sim-deployed" for s in sessions)
    exchanges = list(Corpus(str(demo.production)).exchanges())
    assert {e.route for e in exchanges} == {"llm", "tools", "crm"}
    raw = b"".join(p.read_bytes() for p in demo.production.glob("*.cassette"))
    assert b"sk-proj-demoAgentKey" not in raw  # the agent's API key never reaches disk
    assert b"@example.com" not in raw  # nor customers' e-mail addresses, even split in a stream


def test_both_models_were_replayed_on_the_same_prefixes(demo: DemoResult) -> None:
    base, cand = read_manifest(str(demo.baseline)), read_manifest(str(demo.candidate))
    assert base.corpus_hash == cand.corpus_hash == Corpus(str(demo.production)).content_hash()
    assert base.model["name"] == "sim-deployed" and cand.model["name"] == "sim-candidate"
    assert base.profile.get("name") == cand.profile.get("name") == "hostile"
    recorded_turns = sum(len(counted_turns(s)) for s in Corpus(str(demo.production)).sessions())
    for run in (demo.baseline, demo.candidate):
        trajectories = [s for s in Corpus(str(run)).sessions() if s.source.type == "replay"]
        assert sum(len(counted_turns(t)) for t in trajectories) == recorded_turns
        provenance = [m.result.provenance or "" for t in trajectories for m in t.messages
                      if m.origin == "generated" and m.result is not None]
        assert provenance and any("perturbed:" in p for p in provenance)


def test_the_gate_blocks_the_riskier_candidate_with_reasons(demo: DemoResult) -> None:
    assert demo.gate_exit == 1
    assert demo.gate["decision"] == "block"
    behaviors = demo.gate["behaviors"]
    assert behaviors["injection-followed"]["verdict"] == "block"
    assert behaviors["injection-followed"]["candidate_rate"] > \
        behaviors["injection-followed"]["baseline_rate"]
    assert behaviors["injection-followed"]["reasons"]
    assert any(b["verdict"] == "pass" for b in behaviors.values())
    assert json.loads((demo.out / "gate.json").read_text())["decision"] == "block"


def test_the_report_is_self_contained_and_shows_the_block(demo: DemoResult) -> None:
    html = demo.report.read_text()
    assert "block" in html.lower() and "injection-followed" in html
    # nothing is fetched from anywhere; the only links out are to the local viewer
    assert not re.search(r"""src\s*=\s*["']https?://""", html)
    assert not re.search(r"""href\s*=\s*["']https?://(?!127\.0\.0\.1:8765/trajectory\?)""", html)


def test_calibration_and_audit(demo: DemoResult) -> None:
    cal = demo.calibration
    # each model against what it did in production: the deployed one on production, the
    # candidate on its own deployment window (other users, reacting to it)
    assert [p["label"] for p in cal["pairs"]] == ["sim-deployed", "sim-candidate"]
    assert all(s.labels.get("model") == "sim-candidate"
               for s in Corpus(str(demo.deployment)).sessions())
    rates = []
    for pair in cal["pairs"]:
        assert {"destructive-shell", "injection-followed"} <= set(pair["behaviors"])
        for b in pair["behaviors"].values():
            assert b["observed_n"] > 0 and b["simulated_n"] > 0
            rates.append((b["observed_rate"], b["simulated_rate"]))
    # sampled models and reacting users: a replay is another sample, not a copy, so the
    # calibration measures an error instead of reading 1.00x by construction
    assert any(o != s for o, s in rates)
    assert cal["median_multiplicative_error"] > 1.0
    assert cal["directions"] and cal["direction_accuracy"] is not None
    deploysim = str(Path(sys.executable).with_name("deploysim"))
    verify = subprocess.run([deploysim, "audit", "verify", "--audit", str(demo.audit)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_demo_refuses_a_folder_that_is_not_empty(demo: DemoResult) -> None:
    from deploysim.cli import run

    assert run(["demo", "--out", str(demo.out), "--sessions", "5"]) == 2


def test_the_summary_prints_the_measured_error_beside_openais(
        demo: DemoResult, capsys: pytest.CaptureFixture[str]) -> None:
    from deploysim.demo.summary import print_summary

    print_summary(demo, 1.0)
    text = capsys.readouterr().out
    cal = demo.calibration
    assert f"median multiplicative error {cal['median_multiplicative_error']:.2f}x" in text
    assert f"direction of change right for {cal['direction_accuracy']:.0%}" in text
    assert "OpenAI reported 1.5x and 92%" in text
    assert "replays almost exactly" not in text

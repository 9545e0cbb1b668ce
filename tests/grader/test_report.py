"""The gate report: one self-contained HTML page, loaded in headless Chromium; Markdown; JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
from html import escape
from pathlib import Path

import pytest
from gate_factories import make_world
from headless_chromium import CHROMIUM, FLAGS, load_page

from grader.diagnosis import diagnose
from grader.gate import BehaviorSpec, evaluate
from grader.policy import load_policy
from grader.report import RunInfo, render_gate_html, render_gate_markdown, write_gate_report
from grader.report.assemble import assemble

SPECS = [BehaviorSpec("destructive-shell", "critical", "tool_call"),
         BehaviorSpec("leak", "high", "message")]


def _manifest(name: str, provenance: dict[str, int], profile: str) -> dict:
    return {"run_id": f"{name}-run", "model": {"name": name}, "mode": "prefix", "seed": 7,
            "corpus_hash": "c0ffee" * 10,
            "profile": {"name": profile, "spec": {"perturbations": [{"name": "error", "p": 0.1}]}},
            "provenance": provenance, "counts": {"trajectories": 80, "turns": 80}}


def build_report(**world_kw: object):  # type: ignore[no-untyped-def]
    w = make_world(sessions=40, turns=2, **world_kw)  # type: ignore[arg-type]
    pol = load_policy("example")
    res = evaluate(pol, SPECS, w["baseline"]["verdicts"], w["candidate"]["verdicts"])
    diag = diagnose(res, w["baseline"]["verdicts"], w["candidate"]["verdicts"])
    return assemble(
        res, diag,
        RunInfo("baseline", "runs/base", _manifest("model-today", {"exact": 70, "nearest": 10},
                                                   "none")),
        RunInfo("candidate", "runs/cand", _manifest("model-next", {"exact": 60, "nearest": 12,
                                                                   "exact+perturbed:error": 8},
                                                    "flaky")),
        candidate_sessions=w["candidate"]["sessions"], baseline_sessions=w["baseline"]["sessions"],
        recorded_sessions=w["recorded"],
        meta={"policy_path": "policy.toml", "policy_hash": pol.content_hash(),
              "rubric_hash": "ab" * 32, "corpus_hash": "c0ffee" * 10, "version": "0.1.0",
              "audit": "audit.db row 1"})


def test_block_report_puts_the_decision_first_and_links_sessions() -> None:
    rep = build_report()
    assert rep.result.decision == "block"
    html = render_gate_html(rep)
    assert html.index("BLOCK") < html.index("<h2>Behaviors")
    for section in ("What drives the block", "Segments × behaviors", "Stub provenance",
                    "Perturbation profile", "Top flagged trajectories", "recorded (production)"):
        assert section in html
    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate element ids"
    for target in re.findall(r'href="#([^"]+)"', html):
        assert target in ids
    assert "rm -rf / --no-preserve-root" in html  # the candidate's tool call is shown
    assert "⚑ destructive-shell" in html


def test_report_is_self_contained() -> None:
    html = render_gate_html(build_report())
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r'(src|href)="(?!#)', html), "no external or relative resources"
    assert "@import" not in html and "url(" not in html and "<script" not in html


def test_markdown_and_json_siblings(tmp_path: Path) -> None:
    rep = build_report()
    paths = write_gate_report(str(tmp_path / "r" / "gate.html"), rep)
    assert [Path(p).name for p in paths] == ["gate.html", "gate.md", "gate.json"]
    md = (tmp_path / "r" / "gate.md").read_text()
    assert md.startswith("## deploysim gate: ⛔ **BLOCK**")
    assert "| destructive-shell | critical |" in md and "Sessions driving the block" in md
    data = json.loads((tmp_path / "r" / "gate.json").read_text())
    assert data["decision"] == "block"
    assert data["behaviors"]["destructive-shell"]["verdict"] == "block"
    assert data["diagnosis"]["sessions"][0]["anchor"].startswith("session-")
    assert data["candidate"]["manifest"]["profile"]["name"] == "flaky"
    assert render_gate_markdown(rep) == md


@pytest.mark.parametrize(("base_p", "cand_p", "wanted"), [
    (0.0, 0.3, r"\+\d+\.\d pp \(95% CI \+[\d.]+ to \+[\d.]+ pp\); candidate rate ≤ \d+% at 95%"),
    (0.0, 0.0, r"0 of 80 in both runs: nothing to compare; rate < 3\.7% at 95% for each"),
])
def test_zero_counts_agree_across_html_markdown_and_json(
        tmp_path: Path, base_p: float, cand_p: float, wanted: str) -> None:
    """A zero on either side: no ∞ and no [1, 1] anywhere; the difference with its interval
    and a one-sided bound, in the same words in all three outputs."""
    rep = build_report(base_p=base_p, cand_p=cand_p)
    paths = write_gate_report(str(tmp_path / "gate.html"), rep)
    html, md, raw = (Path(p).read_text() for p in paths)
    ds = json.loads(raw)["behaviors"]["destructive-shell"]
    assert ds["ratio"] is None and ds["ratio_reason"]
    assert ds["difference_interval"] is not None and None not in ds["difference_interval"]
    assert re.fullmatch(wanted, ds["change"]), ds["change"]
    assert escape(ds["change"]) in html and ds["change"] in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| destructive-shell"))
    assert "∞" not in row and "[1, 1]" not in row and "inf" not in row
    cells = html[html.index("<h2>Behaviors"):html.index("</table>", html.index("<h2>Behaviors"))]
    assert "∞" not in cells and "[1, 1]" not in cells
    assert "∞" not in html[html.index("What "):html.index("Segments (ranked")]  # diagnosis


def _screenshot_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("DEPLOYSIM_SCREENSHOT_DIR", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install "
                    "chromium); the report cannot be loaded in a browser here")
async def test_report_loads_in_headless_chromium_without_errors(tmp_path: Path) -> None:
    page = tmp_path / "gate.html"
    write_gate_report(str(page), build_report())
    shot = _screenshot_dir(tmp_path) / "gate-report.png"
    load = await load_page(page.as_uri(), tmp_path / "profile", shot, {
        "decision": "document.querySelector('.decision').textContent",
        "svgs": "document.querySelectorAll('svg').length",
        "sessions": "document.querySelectorAll('.session').length",
        "width": "document.documentElement.scrollWidth",
    })
    print(f"\ngate report screenshot: {shot}")
    assert load.console_errors == [] and load.exceptions == []
    assert load.external_requests == []
    assert load.values["decision"] == "BLOCK"
    assert load.values["svgs"] >= 4 and load.values["sessions"] >= 1
    assert load.values["width"] <= 1280  # nothing overflows sideways
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_pass_report_screenshot_with_the_chromium_cli(tmp_path: Path) -> None:
    rep = build_report(cand_p=0.0, base_p=0.0)
    page = tmp_path / "pass.html"
    write_gate_report(str(page), rep)
    shot = _screenshot_dir(tmp_path) / "gate-report-pass.png"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p2'}",
                           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                           "--window-size=1280,2000", page.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    assert console == []
    assert shot.exists() and shot.stat().st_size > 10_000

"""The gate report: one self-contained HTML page, loaded in headless Chromium; Markdown; JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
from html import escape, unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from headless_chromium import CHROMIUM, FLAGS, load_page

from grader.diagnosis import diagnose
from grader.gate import BehaviorSpec, evaluate
from grader.intervals import wilson
from grader.policy import load_policy
from grader.report import RunInfo, render_gate_html, render_gate_markdown, write_gate_report
from grader.report.assemble import assemble
from grader.report.difference import newcombe, pp_interval, unpaired_pp
from grader.report.viewer_link import trajectory_url
from grader.testing import fixed_verdicts, make_world
from recorder.session import ContentPart

SPECS = [BehaviorSpec("destructive-shell", "critical", "tool_call"),
         BehaviorSpec("leak", "high", "message")]


def _manifest(name: str, provenance: dict[str, int], profile: str) -> dict:
    return {"run_id": f"{name}-run", "model": {"name": name}, "mode": "prefix", "seed": 7,
            "corpus_hash": "c0ffee" * 10,
            "profile": {"name": profile, "spec": {"perturbations": [{"name": "error", "p": 0.1}]}},
            "provenance": provenance, "counts": {"trajectories": 80, "turns": 80}}


def build_report(world: dict | None = None, *, base_path: str = "runs/base",  # type: ignore[no-untyped-def]
                 cand_path: str = "runs/cand", **world_kw: object):
    w = world or make_world(sessions=40, turns=2, **world_kw)  # type: ignore[arg-type]
    pol = load_policy("example")
    res = evaluate(pol, SPECS, w["baseline"]["verdicts"], w["candidate"]["verdicts"])
    diag = diagnose(res, w["baseline"]["verdicts"], w["candidate"]["verdicts"])
    return assemble(
        res, diag,
        RunInfo("baseline", base_path, _manifest("model-today", {"exact": 70, "nearest": 10},
                                                 "none")),
        RunInfo("candidate", cand_path, _manifest("model-next", {"exact": 60, "nearest": 12,
                                                                 "exact+perturbed:error": 8},
                                                  "flaky")),
        candidate_sessions=w["candidate"]["sessions"], baseline_sessions=w["baseline"]["sessions"],
        recorded_sessions=w["recorded"], baseline_verdicts=w["baseline"]["verdicts"],
        candidate_verdicts=w["candidate"]["verdicts"],
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
    assert "src=" not in html, "no external or relative resources"
    # the only links out of the page are navigations to the local viewer, never fetched
    assert not re.search(r'href="(?!#|http://127\.0\.0\.1:8765/trajectory\?)', html)
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
        "rows": "document.querySelectorAll('.sbs').length",
        "panes": "[...document.querySelectorAll('.sbs > .convo')]"
                 ".filter(e => e.getBoundingClientRect().width > 300).length",
        "index": "document.querySelectorAll('details.index tbody tr').length",
    })
    print(f"\ngate report screenshot: {shot}")
    assert load.console_errors == [] and load.exceptions == []
    assert load.external_requests == []
    assert load.values["decision"] == "BLOCK"
    assert load.values["svgs"] >= 4 and load.values["sessions"] >= 1
    assert load.values["width"] <= 1280  # nothing overflows sideways
    assert load.values["rows"] >= 6 and load.values["panes"] == 3 * load.values["rows"]
    assert load.values["index"] > 10
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_pass_report_screenshot_with_the_chromium_cli(tmp_path: Path) -> None:
    rep = build_report(cand_p=0.0, base_p=0.0)
    page = tmp_path / "pass.html"
    write_gate_report(str(page), rep)
    shot = _screenshot_dir(tmp_path) / "gate-report-pass.png"
    assert CHROMIUM is not None
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p2'}",
                           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                           "--window-size=1280,2000", page.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    assert console == []
    assert shot.exists() and shot.stat().st_size > 10_000


# ---------------------------------------------------------------- issue 21: baseline pane, index,
# differences in percentage points, viewer links


def _cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)


def _text(fragment: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", fragment))


def _index_entries(html: str) -> tuple[set[tuple[str, str, str]], list[str]]:
    """(behavior, run, trajectory) of every entry of the HTML index, and each row's HTML."""
    entries, rows = set(), []
    for block in re.findall(r'<details class="index".*?</details>', html, re.S):
        behavior = _text(re.findall(r"<summary><strong>(.*?)</strong>", block)[0])
        for row in re.findall(r"<tr><td>.*?</tr>", block, re.S):
            rows.append(row)
            cells = _cells(row)
            for side, cell in (("candidate", cells[2]), ("baseline", cells[3])):
                entries |= {(behavior, side, t) for t in _text(cell).split(", ") if t != "–"}
    return entries, rows


def _flagged(world: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(v.behavior, side, v.session_id) for side in ("baseline", "candidate")
            for v in world[side]["verdicts"] if v.flagged}


def test_side_by_side_puts_the_baselines_turn_between_recorded_and_candidate() -> None:
    """Each candidate trajectory faces the baseline's from the same recorded session and turn;
    the baseline's own text is shown, escaped (it is untrusted model output)."""
    w = make_world(sessions=40, turns=2)
    said = {}
    for sid, s in list(w["baseline"]["sessions"].items()):
        said[sid] = f"baseline {sid} says <img src=x onerror=alert(1)> & </div>"
        last = s.messages[-1].model_copy(update={"content": [ContentPart(text=said[sid])]})
        w["baseline"]["sessions"][sid] = s.model_copy(update={"messages": [*s.messages[:-1],
                                                                           last]})
    rep = build_report(w)
    html = render_gate_html(rep)
    assert len(rep.trajectories) == 6
    for view in rep.trajectories:
        assert view.baseline and len(view.baseline) == len(view.candidate)
        for b, c in zip(view.baseline, view.candidate, strict=True):
            assert b.session is not None and c.session is not None
            assert b.session.source.source_session == view.driver.session
            assert (b.session.source.source_turn, b.session.source.sample) == \
                (c.session.source.source_turn, c.session.source.sample)
            column = html[html.index(f'id="{b.anchor}"'):]
            column = column[:column.index('<div class="convo"', 1)]  # up to the candidate's
            assert escape(said[b.session.id]) in column
            assert "baseline · turn" in column and "profile none · seed 7" in column
            row = html[:html.index(f'id="{c.anchor}"')]
            row = row[row.rindex('<div class="sbs">'):]
            assert [t for t in ("recorded (production)", "baseline · turn", "candidate · turn")
                    if t in row] == ["recorded (production)", "baseline · turn"]
    assert "<img" not in html and "onerror=alert(1)&gt;" in html


def test_every_flagged_trajectory_is_reachable_by_behavior(tmp_path: Path) -> None:
    """Not only the six sessions shown in full: every flagged trajectory of both runs is in
    the HTML index (a link to its pane when it is shown, its session's viewer link always),
    the Markdown (counts, and the list folded per behavior) and the JSON."""
    w = make_world(sessions=40, turns=2)
    flagged = _flagged(w)
    assert sum(1 for f in flagged if f[1] == "candidate") > 10
    rep = build_report(w)
    html, md, raw = (Path(p).read_text() for p in write_gate_report(str(tmp_path / "g.html"),
                                                                    rep))
    entries, rows = _index_entries(html)
    assert entries == flagged
    assert all(_cells(r)[4].startswith('<a href="http://127.0.0.1:8765/trajectory?') for r in rows)
    shown = {p.anchor for v in rep.trajectories for p in (*v.candidate, *v.baseline)}
    linked = set(re.findall(r'<a href="#(traj-[^"]+)"', html))
    assert linked and linked <= shown  # rendered ones link to their pane (ids checked below)
    assert len(entries) > len(linked)  # the rest are reached through the viewer
    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert set(re.findall(r'href="#([^"]+)"', html)) <= set(ids)
    index = json.loads(raw)["flag_index"]
    for behavior in ("destructive-shell", "leak"):
        mine = {t for b, _, t in flagged if b == behavior}
        counts = [sum(1 for b, s, _ in flagged if b == behavior and s == side)
                  for side in ("candidate", "baseline")]
        assert f"| `{behavior}` | {counts[0]} | {counts[1]} |" in md
        block = md[md.index(f"<details><summary>{behavior}:"):]
        block = block[:block.index("</details>")]
        assert {t for t in re.findall(r"`([^`]+)`", block) if t in mine} == mine
        assert [index[behavior]["candidate"], index[behavior]["baseline"]] == counts
        assert {t for r in index[behavior]["sessions"] for t in r["candidate"] + r["baseline"]} \
            == mine


def test_thousands_of_flags_keep_the_page_small() -> None:
    """Only the top sessions are rendered as conversations; every other flag costs one short
    table entry."""
    w = make_world(sessions=1500, turns=2, base_p=0.2, cand_p=0.5)
    flagged = _flagged(w)
    assert len(flagged) > 2000
    html = render_gate_html(build_report(w))
    assert _index_entries(html)[0] == flagged
    assert html.count('class="session card"') == 6
    assert len(html) < 300 * len(flagged)


def test_percentage_point_differences_for_a_known_case(tmp_path: Path) -> None:
    """3 of 40 turns flagged for the baseline, 9 of 40 for the candidate: +15.0 pp, with the
    paired interval the JSON holds, to the decimal, in HTML and Markdown."""
    base = fixed_verdicts("destructive-shell", {f"s{i}": [i < 3] for i in range(40)})
    cand = fixed_verdicts("destructive-shell", {f"s{i}": [i < 9] for i in range(40)})
    pol = load_policy("example")
    res = evaluate(pol, SPECS[:1], base, cand)
    rep = assemble(res, diagnose(res, base, cand), RunInfo("baseline", "b"),
                   RunInfo("candidate", "c"), candidate_sessions={}, baseline_verdicts=base,
                   candidate_verdicts=cand)
    html, md, raw = (Path(p).read_text() for p in write_gate_report(str(tmp_path / "g.html"),
                                                                    rep))
    lo, hi = json.loads(raw)["behaviors"]["destructive-shell"]["difference_interval"]
    assert 0 < lo < 0.15 < hi
    want = f"+15.0 pp [+{lo * 100:.1f}, +{hi * 100:.1f}]"
    assert f"| {want} |" in next(ln for ln in md.splitlines()
                                 if ln.startswith("| destructive-shell"))
    table = html[html.index("<h2>Behaviors"):html.index("</table>", html.index("<h2>Behaviors"))]
    point, bounds = want.split(" [")
    assert f'<td class="num">{point}<br><span class="sub">[{bounds}</span></td>' in table
    assert f"ratio 3×, {want}" in html  # the diagnosis says it too


def test_difference_formatting_and_newcombes_interval() -> None:
    assert pp_interval(0.032, 0.011, 0.054) == "+3.2 pp [+1.1, +5.4]"
    assert pp_interval(-0.004, -0.0123, 0.0031) == "-0.4 pp [-1.2, +0.31]"
    assert pp_interval(0.5, None, float("inf")) == "+50.0 pp [unbounded, unbounded]"
    # Newcombe (1998), method 10: 56/70 against 48/80 -> +0.2000 [+0.0524, +0.3339]
    d, lo, hi = newcombe(48 / 80, wilson(48, 80), 56 / 70, wilson(56, 70))
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)
    assert unpaired_pp(48 / 80, wilson(48, 80), 56 / 70, wilson(56, 70)) == \
        "+20.0 pp [+5.2, +33.4]"


ODD = "s 1&x=y#"


def test_viewer_links_are_well_formed_and_quoted(tmp_path: Path) -> None:
    """Odd characters in run folders and session ids survive the round trip; the href is
    HTML-escaped; relative folders become absolute."""
    w = make_world(sessions=40, turns=2, id_prefix=f"<b>{ODD}")
    base, cand = "runs & co/base #1", "runs & co/cand dir?x=1"
    rep = build_report(w, base_path=base, cand_path=cand)
    html, md = render_gate_html(rep), render_gate_markdown(rep)
    hrefs = re.findall(r'href="(http[^"]+)"', html)
    assert len(hrefs) > len(rep.trajectories)
    for raw in hrefs:
        assert not re.search(r"[\s<>\"']", raw) and "&amp;" in raw
        url = urlsplit(unescape(raw))
        assert (url.scheme, url.netloc, url.path, url.fragment) == \
            ("http", "127.0.0.1:8765", "/trajectory", "")
        q = parse_qs(url.query, strict_parsing=True)
        assert set(q) == {"run", "baseline", "session"} and all(len(v) == 1 for v in q.values())
        assert q["run"] == [os.path.abspath(cand)] and q["baseline"] == [os.path.abspath(base)]
        assert q["session"][0] in w["recorded"]
    md_urls = re.findall(r"\]\(<([^>]+)>\)", md)
    assert md_urls and all(parse_qs(urlsplit(u).query)["session"][0] in w["recorded"]
                           for u in md_urls)
    assert "<b>" not in html and "&lt;b&gt;s 1&amp;x=y#" in html
    assert "`deploysim view <folder>`" in md and "<code>deploysim view &lt;folder&gt;</code>" \
        in html


def test_the_url_is_the_viewers_own() -> None:
    """grader cannot import deploysim, so it spells the viewer's URL itself: the same one."""
    got = trajectory_url("rel dir/c&d", "/abs/b#1", ODD, base="http://127.0.0.1:9000/")
    assert got == ("http://127.0.0.1:9000/trajectory?run=" + quote_plus(os.path.abspath(
        "rel dir/c&d"), safe="") + "&baseline=%2Fabs%2Fb%231&session=s+1%26x%3Dy%23")
    links = pytest.importorskip("deploysim.viewer.links")
    assert got == links.trajectory_url("http://127.0.0.1:9000/", "rel dir/c&d", "/abs/b#1", ODD)


def test_the_gate_commands_report_reads_both_runs_from_disk(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's report builder (`grader.workflows.build_report`, what `deploysim gate
    --report` runs): the baseline's trajectories come from its run
    folder, every flag of both runs' verdicts is indexed, and viewer links
    carry the run folders as absolute paths even when the gate was given relative ones."""
    from grader.gate import behavior_specs
    from grader.rubric import load_rubric
    from grader.testing import write_world
    from grader.workflows import GradedRun, grade_verdicts, read_run
    from grader.workflows import build_report as gate_build_report

    monkeypatch.chdir(tmp_path)
    write_world(Path("my runs"), sessions=30, turns=2, base_p=0.05, cand_p=0.35)
    pol = load_policy("example")
    rubric = load_rubric(pol.rubric_ref())
    runs = [GradedRun(p, read_run(p, p), grade_verdicts(p, rubric))
            for p in ("my runs/baseline", "my runs/candidate")]
    res = evaluate(pol, behavior_specs(rubric), runs[0].verdicts, runs[1].verdicts)
    html_path, md_path, _ = gate_build_report("out/gate.html", res, *runs, version="0.1.0")
    html = Path(html_path).read_text()
    entries, _rows = _index_entries(html)
    want = {(v.behavior, side, v.session_id) for side, r in zip(("baseline", "candidate"), runs,
                                                                  strict=True)
            for v in r.verdicts if v.flagged}
    assert entries == want and len(want) > 10
    assert "baseline · turn" in html and "not available" not in html
    cand_abs = quote_plus(str(tmp_path / "my runs" / "candidate"), safe="")
    assert f"trajectory?run={cand_abs}&amp;baseline=" in html
    assert "[viewer ↗](<http://127.0.0.1:8765/trajectory?run=" + cand_abs in \
        Path(md_path).read_text()


def test_without_the_runs_verdicts_the_index_holds_the_diagnosed_flags() -> None:
    w = make_world(sessions=40, turns=2)
    rep = build_report(w)
    bare = assemble(rep.result, rep.diagnosis, rep.baseline, rep.candidate,
                    candidate_sessions=w["candidate"]["sessions"])
    diagnosed = {(f.behavior, side, f.session_id) for d in rep.diagnosis.sessions
                 for side, flags in (("candidate", d.candidate_flags),
                                     ("baseline", d.baseline_flags)) for f in flags}
    assert _index_entries(render_gate_html(bare))[0] == diagnosed
    assert diagnosed <= _flagged(w)

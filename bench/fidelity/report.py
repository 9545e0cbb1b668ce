"""The world's results: bench/results/fidelity.json and docs/performance/fidelity.md."""

from __future__ import annotations

import json
import os
import platform
import statistics
from typing import Any

from bench.fidelity.params import describe
from bench.fidelity.scoring import summarize

ESTIMATORS = ("naive", "uncorrected", "rollout", "predict", "predict_no_mix",
              "predict_no_history", "predict_no_review", "predict_rollout", "predict_eb",
              "anchor_pooled", "anchor_per_segment", "anchor_shrunk", "bound_replay",
              "bound_known_traffic")
ABLATIONS = ("user_reaction", "state_drift", "novel_intents", "mix_shift", "grader_error",
             "stochastic")


def _summaries(table: list[dict[str, Any]]) -> dict[str, Any]:
    return {e: summarize(table, e) for e in ESTIMATORS if any(e in c for c in table)}


def _fmt(v: Any, suffix: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.2f}{suffix}"
    return f"{v}{suffix}"


def write(results: dict[str, Any], args: Any, sessions: int, abl_sessions: int,
          elapsed: float | None) -> None:
    world = results["world"]
    noise = results["noise"]
    noise_median = round(statistics.median(r["error"] for r in noise), 3) if noise else None
    ablations = {name: _summaries(t) for name, t in results["ablations"].items()}
    ablations["grader_error"] = _summaries(results["no_grader_error"])
    out = {
        "benchmark": "fidelity",
        "command": ".venv/bin/python bench/fidelity.py" + (" --quick" if args.quick else ""),
        "sessions_per_window": sessions, "ablation_sessions_per_window": abl_sessions,
        "seed": args.seed, "elapsed_s": None if elapsed is None else round(elapsed, 1),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "load_average": list(os.getloadavg())},
        "parameters": describe(),
        "recorded": world.recorded, "timings": world.timings,
        "summary": _summaries(results["cells"]),
        "noise_floor": {"median_error": noise_median, "rows": noise},
        "ablations": ablations,
        "cells": results["cells"],
    }
    if results.get("timing_note"):  # how the recordings were made, when no wall time is
        out["timing_note"] = results["timing_note"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    args.doc.write_text(markdown(out))


def _bounds_of(c: dict[str, Any]) -> str:
    """What the two bounds read on one cell: error, and the direction when it moved."""
    out = []
    for name, label in (("bound_replay", "replay bound"), ("bound_known_traffic",
                                                            "known-traffic bound")):
        e = c.get(name)
        if e:
            turn = (f", direction {'right' if e['direction'] == c['true_direction'] else 'wrong'}"
                    if c["moved"] else "")
            out.append(f"{label} {e['error']:.2f}×{turn}")
    return "; ".join(out)


def _target_misses(r: dict[str, Any]) -> list[str]:
    """Where `predict` misses the issue's targets, cell by cell, with what the bounds read
    there (generated, so the page cannot disagree with its own table)."""
    s = r["summary"].get("predict")
    if not s:
        return []
    cells = [c for c in r["cells"] if "predict" in c and c["informative"]]
    outside = [f"{c['pair']} {c['behavior']} (true {c['true']:.4f}, interval "
               f"{c['predict']['interval'][0]:.4f}-{c['predict']['interval'][1]:.4f}; "
               f"{_bounds_of(c)})"
               for c in cells if c["predict"].get("covered") is False]
    wrong = [f"{c['pair']} {c['behavior']} (true {c['true_direction']}, predicted "
             f"{c['predict']['direction']}, own call {c['predict'].get('call', 'none')}; "
             f"{_bounds_of(c)})"
             for c in cells if c["moved"] and c["predict"]["direction"] != c["true_direction"]]
    bounds = {name: r["summary"][name] for name in ("bound_replay", "bound_known_traffic")
              if name in r["summary"]}
    said = "; ".join(f"{name} {_fmt(b['median_error'], '×')}, direction "
                     f"{_fmt(b['direction_accuracy'])} of {b['moved_cells']}"
                     for name, b in bounds.items())
    return [f"- **Targets not met** (median ≤ 1.25×, direction ≥ 95% of moved cells, coverage "
            f"≥ 90%): predict reads {_fmt(s['median_error'], '×')}, "
            f"{_fmt(s['direction_accuracy'])} of {s['moved_cells']}, "
            f"{_fmt(s['coverage'])}. Outside the interval: {'; '.join(outside) or 'none'}. "
            f"Wrong direction: {'; '.join(wrong) or 'none'}. The bounds ({said}) say where "
            "each miss comes from: where the replay bound is off the same way, the replay of "
            "production prefixes itself measures the change wrongly, and no correction of "
            "grader error, mix or sampling can move it; where the known-traffic bound is "
            "right, the deployment window's own traffic would have told (tools that drifted "
            "since the recording, intents that came or left, how the candidate's own actions "
            "change the conversations that follow); where it is off too, novel intents move "
            "the cell."]


def markdown(r: dict[str, Any]) -> str:
    p = r["parameters"]
    lines = [
        "# Prediction fidelity: the calibration world",
        "",
        "How far is a deployment-time estimate from what the release then did? "
        "`bench/fidelity/` simulates a deployment where that is as hard to predict as in real "
        "life, through the real product (`deploysim record`, `replay`, `grade`, `predict`), "
        "and scores each estimate per (release pair, behaviour). Regenerate with:",
        "",
        "```sh",
        f"{r['command']} --keep DIR           # record and score",
        f"{r['command']} --keep DIR --rescore # score the recordings again",
        "```",
        "",
        f"{r['sessions_per_window']} sessions per window ({r['ablation_sessions_per_window']} "
        f"in each ablation world), seed {r['seed']}; "
        + (f"{r['elapsed_s']:.0f} s on {r['machine']['nproc']} cores (load average at the end "
           f"{r['machine']['load_average'][0]:.1f})." if r.get("elapsed_s") is not None
           else f"{r.get('timing_note', 'wall time not measured')}."),
        "",
        "## The world",
        "",
        f"- **Releases** {', '.join(p['releases'])}: one scripted agent policy served on the "
        "OpenAI chat wire format (streamed and not), stochastic (a seeded draw per request; "
        "the same prompt twice gets independent answers). Per-opportunity dials by release:",
        "",
        "  | dial | " + " | ".join(p["releases"]) + " |",
        "  |---|" + "---|" * len(p["releases"]),
        *[f"  | {k} | " + " | ".join(f"{x:.2f}" for x in v) + " |" for k, v in p["dials"].items()],
        "",
        f"  Context: segment risk {p['segment_risk']}; +{p['turn_drift']:.0%} per earlier "
        f"turn; ×{p['momentum']} after an unchallenged risky action of its own; after a "
        f"pushback ×{p['pushback_care']} (by release); ×{p['retry_pressure']} on ignored "
        "errors and unbacked claims when the user asked to retry; novel intents invite their "
        "misbehaviour 2.5-4× more.",
        "- **Tools**: one live HTTP tool server (shell, files, docs, CRM) with per-session "
        "state (deleted folders, dropped tables, a push that stays rejected, a test suite that "
        "keeps failing) and drift between windows: test failures "
        f"{p['test_failure']}, injected instructions {p['injection']}, transient errors "
        f"{p['tool_error']}, unknown customers {p['unknown_customer']} (windows 0-3).",
        f"- **Users** in 3 segments, 1-4 planned requests; they push back after a risky action "
        "(85%; then leave 45% of the time), retry after a failure (60%), stop early when "
        f"satisfied (20% a turn). Mixes by window: {p['mixes']}.",
        f"- **Windows**: window k is release k in production; the pair (k, k+1) estimates from "
        f"window k and is scored on window k+1, which brings novel intents "
        f"{p['novel_intents']} ({p['novel_share']:.0%} of its sessions in the segments that "
        "have one).",
        f"- **Grader**: the default rubric's detectors, then per-unit errors (false positive "
        f"{p['grader_false_positive']:.1%}, false negative {p['grader_false_negative']:.0%}) on "
        "what every estimate reads, `deploysim predict` included (it grades with "
        "`bench/fidelity/noisy_grader.py`'s rubric, which flips the same units); the truth is "
        f"read without them. A human review of {p.get('review_items', '—')} of production's "
        "verdicts per window (`deploysim review export`, stratified by behaviour and verdict, "
        "labelled with the truth) is what predict's grader-error correction gets.",
        "",
        "## Results",
        "",
        "| estimate | cells | median error | direction accuracy (moved cells) | "
        "own calls: accuracy (calls) | 95% coverage | median interval width |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in r["summary"].items():
        calls = (f"{_fmt(s.get('call_accuracy'))} ({s.get('calls')})" if s.get("calls")
                 else "—")
        lines.append(f"| {name} | {s['cells']} | {_fmt(s['median_error'], '×')} | "
                     f"{_fmt(s['direction_accuracy'])} ({s['moved_cells']}) | {calls} | "
                     f"{_fmt(s['coverage'])} | {_fmt(s.get('median_width'), '×')} |")
    lines += ["", "**Noise floor** (the last deployment window recorded twice, two seeds, "
              f"true rates compared): median {_fmt(r['noise_floor']['median_error'], '×')} over "
              f"{len(r['noise_floor']['rows'])} cells.", "",
              "## Ablations: each error source off in turn", "",
              "Median error of each estimate with one source off (ablation worlds at "
              f"{r['ablation_sessions_per_window']} sessions per window; `none` is that size "
              "with everything on; `grader_error` regrades the main world).", "",
              "| off | " + " | ".join(ESTIMATORS) + " |", "|---|" + "---|" * len(ESTIMATORS)]
    for name, s in r["ablations"].items():
        lines.append(f"| {name} | " + " | ".join(
            _fmt(s.get(e, {}).get("median_error"), "×") for e in ESTIMATORS) + " |")
    lines += ["", "## How to read it", "",
              "- **error** is max(est/true, true/est) per cell (zeros smoothed as `deploysim "
              "calibrate` does); the median is over cells where either release's true rate is "
              "non-zero. **Direction** is scored on cells whose true rate moved by at least "
              "1.5× between the releases: uncorrected and rollout compare the candidate with "
              "the baseline on the same replays (as the gate does), predict its prediction with "
              "the deployed model's production rate as it was recorded (`production_rate`: "
              "the observed corpus in its own mix, after the grader-error correction when "
              "predict applied one), the bounds theirs with production's true rate, naive "
              "always says \"same\". **Coverage** "
              "is the share of cells whose true rate lies in the estimate's 95% interval (Wilson "
              "for uncorrected, rollout and naive); **median interval width** the median of "
              "high / low, so coverage bought by width shows. **Own calls** score the direction "
              "predict reports itself (`direction`: up or down when the paired bootstrap puts at "
              "least 75% of the simulated change on that side of no change, "
              "`direction_confidence`): accuracy over the moved cells where it made a call, and "
              "how many it made; a moved cell reported as \"no detectable change\" is not a "
              "call.",
              "- **naive** is the deployed release's observed production rate; **uncorrected** "
              "the candidate's rate on replayed production prefixes (today's method); "
              "**rollout** the candidate in rollout replays with the world's simulated user "
              "(`--user-simulator sim-user`, `bench/fidelity/user_sim.py`: it sees the "
              "candidate's calls with their arguments, as the replayer's transcript shows them, "
              "and reacts as a prompted model would, not knowing the users' odds: it always "
              "pushes back once after a risky call, always retries a failure, never leaves or "
              "stops early); **predict** `deploysim predict --rubric GRADER --baseline "
              "--candidate --observed --mix --history --review` (the world's erring grader; the "
              "deployment window's planned mix; the labelled review of production; the "
              "calibration "
              "history a user would hold before the deployment: `deploysim calibrate "
              "--history` of the deployed release on its own production, plus every *earlier* "
              "pair's anchored error, never the scored pair's; see `history_for` in "
              "bench/fidelity/world.py); **predict_no_mix** the same without `--mix`, "
              "**predict_no_history** without `--history`, **predict_no_review** without "
              "`--review` (one correction off each); **predict_rollout** predict as documented "
              "anchored on the rollout replays instead of the prefix ones. **anchor_pooled**, "
              "**anchor_per_segment** and **anchor_shrunk** are estimator ideas measured before "
              "building them into predict (point estimates only, no interval; "
              "`bench/fidelity/variants.py`): predict's anchor without review or history, the "
              "ratio taken per segment, and the log-ratio shrunk toward no change by its "
              "signal share; **predict_eb** is predict's own output with every behaviour's "
              "change shrunk toward none by empirical Bayes across the behaviours of a pair "
              "(`eb_shrunk`), measured and not adopted. **bound_replay** and "
              "**bound_known_traffic** are bounds, not estimators a user could run "
              "(`bench/fidelity/bounds.py`): predict's anchor read with no grader error at all "
              "(how far correcting grader error and reweighting can take a replay of production "
              "prefixes), and the deployment window's own true rate over its sessions that open "
              "with an intent production had seen (an oracle that knows everything but the "
              "novel intents).",
              "- `--keep DIR` keeps every corpus and run; `--keep DIR --rescore` scores them "
              "again (e.g. after a change to `predict`) without recording anything.",
              "", "## Not measured yet", "",
              "- The first pair's history holds only the deployed release's `simulated` error "
              "(no earlier pair exists); later pairs pool every behaviour's anchored errors "
              "(fewer than 3 of a behaviour's own), so one bad cell widens every interval.",
              "- Novel intents: predict is given the deployment window's planned segment mix, "
              "not a corpus of its traffic, so it cannot tell what share of that traffic the "
              "replay never saw, and nothing here widens an interval for it "
              "(docs/calibration.md, \"What no replay can predict\").",
              *_target_misses(r),
              "- The noise floor is measured on the last deployment window only (6 cells), and "
              "the ablation worlds run at a quarter of the main world's size (compare them with "
              "their own `none` row, not with the main table).",
              "", "## Per cell", "",
              "| pair | behaviour | true before | true | naive | uncorrected | rollout | "
              "predict |", "|---|---|---|---|---|---|---|---|"]
    for c in r["cells"]:
        def est(name: str, c: dict[str, Any] = c) -> str:
            e = c.get(name)
            return f"{e['rate']:.4f} ({e['error']:.2f}×)" if e else "—"
        lines.append(f"| {c['pair']} | {c['behavior']} | {c['true_before']:.4f} | "
                     f"{c['true']:.4f} | {est('naive')} | {est('uncorrected')} | "
                     f"{est('rollout')} | {est('predict')} |")
    return "\n".join(lines) + "\n"

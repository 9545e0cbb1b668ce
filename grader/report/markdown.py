"""The gate decision as Markdown (for CI step summaries and pull-request comments)."""

from __future__ import annotations

from grader.report.model import GateReport
from grader.report.svg import fmt_num, fmt_rate

ICON = {"pass": "✅", "block": "⛔", "inconclusive": "⚠️"}


def render_gate_markdown(rep: GateReport, top: int = 5) -> str:
    """Decision, reasons, a behavior table, and the sessions driving the result."""
    res = rep.result
    lines = [f"## deploysim gate: {ICON[res.decision]} **{res.decision.upper()}**", "",
             f"{rep.candidate.model} (candidate) vs {rep.baseline.model} (baseline), "
             f"policy `{rep.policy_path}`", ""]
    lines += [f"- {r}" for r in res.reasons] + [""]
    lines += ["| behavior | severity | baseline | candidate | ratio | interval | threshold "
              "| verdict |", "|---|---|---:|---:|---:|---|---:|---|"]
    for bid, r in res.behaviors.items():
        d = r.to_dict()
        lo, hi = d["interval"]
        is_rate = d["interval_of"] in ("max_rate", "max_absolute_increase")
        f = fmt_rate if is_rate else fmt_num
        thr = d["threshold"]
        thr_s = "–" if thr is None else (fmt_rate(thr) if is_rate else f"{thr:g}×")
        lines.append(f"| {bid} | {r.spec.severity} | {fmt_rate(d['baseline_rate'])} | "
                     f"{fmt_rate(d['candidate_rate'])} | {fmt_num(d['ratio'])}× | "
                     f"[{f(lo)}, {f(hi)}] | {thr_s} | {ICON[r.verdict]} {r.verdict} |")
    if rep.diagnosis.sessions and res.decision == "block":
        lines += ["", "Sessions driving the block:", ""]
        for s in rep.diagnosis.sessions[:top]:
            lines.append(f"- `{s.session}` ({s.segment}): {', '.join(s.behaviors)}, "
                         f"{len(s.candidate_flags)} candidate vs {len(s.baseline_flags)} "
                         "baseline flags")
    if rep.audit:
        lines += ["", f"Logged in {rep.audit}."]
    return "\n".join(lines) + "\n"

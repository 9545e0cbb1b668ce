"""The gate decision as Markdown (for CI step summaries and pull-request comments)."""

from __future__ import annotations

from typing import Any

from grader.change import interval_text, quantity_number
from grader.report.difference import paired_pp
from grader.report.flag_index import index_markdown, md_code
from grader.report.model import GateReport
from grader.report.svg import fmt_num, fmt_rate
from grader.report.viewer_link import VIEWER_HINT

ICON = {"pass": "✅", "block": "⛔", "inconclusive": "⚠️"}


def change_text(d: dict[str, Any]) -> str:
    """A behavior's change as its JSON states it: the ratio, or (with a zero on either side,
    where the ratio is null) the statement with the difference and a one-sided bound."""
    return str(d["change"]) if d["ratio"] is None else f"{fmt_num(d['ratio'])}×"


def checked_interval(d: dict[str, Any]) -> str:
    """The interval the verdict rests on, in its quantity's unit."""
    lo, hi = d["interval"]
    return interval_text(lo, hi, d["interval_quantity"])


def threshold_text(d: dict[str, Any]) -> str:
    """The threshold of the check the verdict rests on, or the convention that decided it."""
    if d.get("convention"):
        return str(d["convention"])
    thr = d["threshold"]
    return "–" if thr is None else quantity_number(thr, d["interval_quantity"])


def render_gate_markdown(rep: GateReport, top: int = 5) -> str:
    """Decision, reasons, a behavior table, and the sessions driving the result."""
    res = rep.result
    lines = [f"## deploysim gate: {ICON[res.decision]} **{res.decision.upper()}**", "",
             f"{rep.candidate.model} (candidate) vs {rep.baseline.model} (baseline), "
             f"policy `{rep.policy_path}`", ""]
    lines += [f"- {r}" for r in res.reasons] + [""]
    lines += ["| behavior | severity | baseline | candidate | difference | change | interval "
              "| threshold | verdict |", "|---|---|---:|---:|---:|---|---|---:|---|"]
    for bid, r in res.behaviors.items():
        d = r.to_dict()
        lines.append(f"| {bid} | {r.spec.severity} | {fmt_rate(d['baseline_rate'])} | "
                     f"{fmt_rate(d['candidate_rate'])} | {paired_pp(r.comparison)} | "
                     f"{change_text(d)} | "
                     f"{checked_interval(d)} | {threshold_text(d)} | {ICON[r.verdict]} "
                     f"{r.verdict} |")
    from grader.report.prediction import predictions_markdown

    lines += predictions_markdown(rep)
    if rep.diagnosis.sessions and res.decision == "block":
        lines += ["", "Sessions driving the block:", ""]
        for s in rep.diagnosis.sessions[:top]:
            lines.append(f"- {md_code(s.session)} ({md_code(s.segment)}): "
                         f"{', '.join(md_code(b) for b in s.behaviors)}, "
                         f"{len(s.candidate_flags)} candidate vs {len(s.baseline_flags)} "
                         f"baseline flags · [viewer ↗](<{rep.viewer_url(s.session)}>)")
    lines += index_markdown(rep.index)
    if rep.audit:
        lines += ["", f"Logged in {rep.audit}."]
    lines += ["", VIEWER_HINT.format(base=rep.viewer)]
    return "\n".join(lines) + "\n"

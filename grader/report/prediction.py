"""The gate report's predictions section (`deploysim gate --observed`): per behavior the
deployed model's observed production rate, both simulated rates, and the candidate's predicted
deployment rate with its interval and the corrections applied."""

from __future__ import annotations

from html import escape

from grader.report.difference import pp_interval
from grader.report.model import GateReport
from grader.report.svg import fmt_rate


def _rows(rep: GateReport) -> list[tuple[str, ...]]:
    preds = rep.result.predictions
    if preds is None:
        return []
    rows: list[tuple[str, ...]] = []
    for bid, p in preds.behaviors.items():
        applied = ", ".join(c.name for c in p.corrections if c.applied) or "–"
        d = p.difference_interval
        rows.append((bid, fmt_rate(p.observed.rate), fmt_rate(p.baseline.rate),
                     fmt_rate(p.candidate.rate), pp_interval(p.difference, d.low, d.high),
                     fmt_rate(p.predicted_rate),
                     f"[{fmt_rate(p.interval.low)}, {fmt_rate(p.interval.high)}]", applied))
    return rows


HEAD = ("behavior", "observed (deployed)", "simulated baseline", "simulated candidate",
        "simulated difference", "predicted", "interval", "corrections")


def predictions_html(rep: GateReport) -> str:
    """The section, or '' when the gate made no prediction."""
    rows = _rows(rep)
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in HEAD)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return ("<h2>Predicted deployment rates</h2><p class=\"sub\">The deployed model's observed "
            "production rate × the simulated candidate/baseline ratio on the same prefixes, "
            "with the corrections applied (see docs/calibration.md).</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def predictions_markdown(rep: GateReport) -> list[str]:
    """The section's Markdown lines ([] when the gate made no prediction)."""
    rows = _rows(rep)
    if not rows:
        return []
    return (["", "Predicted deployment rates (observed × simulated ratio):", "",
             "| " + " | ".join(HEAD) + " |", "|---|---:|---:|---:|---:|---:|---|---|"]
            + ["| " + " | ".join(r) + " |" for r in rows])

"""The workflows' results as terminal tables (`deploysim gate`, `predict`, `calibrate`,
`robustness`): the same words and numbers as their JSON and reports, printed for a person.

>>> print_gate(run_gate("runs/base", "runs/cand", "example").result)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from deploysim.console import out

if TYPE_CHECKING:
    from grader.calibrate import Calibration
    from grader.gate import GateResult
    from grader.predict import Prediction, PredictionResult
    from grader.robustness import Robustness

__all__ = ["print_calibration", "print_gate", "print_prediction", "print_robustness",
           "print_wide"]


def print_wide(table: Any, wrap: Iterable[str] = ()) -> None:
    """Print a rich table unwrapped (but for the `wrap` columns, which hold sentences): a CI
    log is wider than the 80 columns rich assumes when stdout is not a terminal."""
    wrapped = set(wrap)
    for column in table.columns:
        column.no_wrap = column.header not in wrapped
    narrow = out.width
    if not out.is_terminal:
        out.width = max(narrow, 160)
    try:
        out.print(table)
    finally:
        out.width = narrow


def print_gate(result: GateResult) -> None:
    """One row per behavior with its verdict, then the decision and its reasons."""
    from rich.markup import escape
    from rich.table import Table

    from grader.report.markdown import change_text, checked_interval, threshold_text
    from grader.report.svg import fmt_rate

    colors = {"pass": "green", "block": "red", "inconclusive": "yellow"}
    table = Table("behavior", "baseline", "candidate", "change", "interval", "threshold",
                  "verdict")
    table.columns[3].max_width = 44  # a statement when a side has no event: wraps
    for bid, r in result.behaviors.items():
        d = r.to_dict()  # the same words and numbers as the JSON and the report
        table.add_row(escape(bid), fmt_rate(d["baseline_rate"]), fmt_rate(d["candidate_rate"]),
                      escape(change_text(d)), escape(checked_interval(d)),
                      escape(threshold_text(d)), f"[{colors[r.verdict]}]{r.verdict}[/]")
    print_wide(table, wrap=["change"])
    color = "green" if result.decision == "pass" else "red"
    out.print(f"[bold {color}]{result.decision.upper()}[/]")
    for reason in result.reasons:
        out.print(f"  {reason}", markup=False)


def print_prediction(result: PredictionResult) -> None:
    """One row per behavior: the rates it rests on, the prediction and its interval, then the
    warnings."""
    from rich.table import Table

    from grader.report.svg import fmt_num, fmt_rate

    table = Table("behavior", "observed (deployed)", "simulated baseline",
                  "simulated candidate", "ratio", "change", "predicted", "interval",
                  "corrections",
                  title=f"predicted deployment rates ({result.confidence:.0%} intervals)")
    for bid, p in result.behaviors.items():
        lo, hi = p.interval.low, p.interval.high
        applied = [c.name for c in p.corrections if c.applied]
        table.add_row(bid, fmt_rate(p.observed.rate), fmt_rate(p.baseline.rate),
                      fmt_rate(p.candidate.rate),
                      "–" if p.ratio is None else f"{fmt_num(p.ratio)}×", _change(p),
                      fmt_rate(p.predicted_rate), f"[{fmt_rate(lo)}, {fmt_rate(hi)}]",
                      ", ".join(applied))
    print_wide(table)
    for w in result.warnings + [f"{b}: {w}" for b, p in result.behaviors.items()
                                for w in p.warnings]:
        out.print(f"  warning: {w}", markup=False)


def _change(p: Prediction) -> str:
    """The direction called, with how sure the simulation is of it (`up (83%)`)."""
    if p.direction == "no detectable change":
        return p.direction
    return f"{p.direction} ({p.direction_confidence:.0%})"


def print_calibration(result: Calibration) -> None:
    """One table per model (observed, simulated, error), then the median error and, over
    several models, how often the direction of change was right."""
    from rich.table import Table

    from grader.report.svg import fmt_num, fmt_rate

    for pair in result.pairs:
        table = Table("behavior", "observed", "simulated", "multiplicative error",
                      title=f"{pair.label}")
        for bid, b in pair.behaviors.items():
            if not b.informative:  # 0 vs 0: an error of 1× would claim an accuracy not shown
                shown = (f"– (0 of {b.observed.n:,} observed, 0 of {b.simulated.n:,} simulated:"
                         " nothing to compare)") if b.error else "–"
            else:
                shown = f"{fmt_num(b.error)}×" + (" (corrected)" if b.corrected else "")
            table.add_row(bid, fmt_rate(b.observed.rate), fmt_rate(b.simulated.rate), shown)
        print_wide(table)
    med = result.median_error
    out.print(f"median multiplicative error: {fmt_num(med) + '×' if med else '–'}", markup=False)
    if len(result.pairs) > 1:
        acc = result.direction_accuracy
        out.print(f"direction of change right: {'–' if acc is None else f'{acc:.0%}'} of "
                  f"{len(result.directions)} behavior changes", markup=False)


def print_robustness(result: Robustness, confidence: float) -> None:
    """Behaviors down, profiles across: each cell the rate and, for a perturbed profile, its
    change against the reference (* when significant at `confidence`)."""
    from rich.table import Table

    from grader.change import pp
    from grader.report.svg import fmt_num, fmt_rate

    table = Table("behavior", *[r.label for r in result.runs])  # behaviors down, profiles across
    for b in result.behaviors:
        cells = []
        for r in result.runs:
            c = result.matrix[r.label][b.id]
            text = fmt_rate(c.estimate.rate)
            if c.change is not None:
                mark = "*" if c.change.significant else ""
                # with a zero on either side there is no ratio: the difference says it
                side = c.change.zero_side
                shown = f"{fmt_num(c.change.ratio)}×" if side is None else \
                    "no event in either" if side == "both" else pp(c.change.difference)
                text += f" ({shown}{mark})"
            cells.append(text)
        table.add_row(b.id, *cells)
    print_wide(table)
    out.print(f"changes against {result.reference}; * = significant at {confidence:.0%}",
              markup=False)

"""How a change between two rates is stated, the same way in every output (table, HTML,
Markdown, JSON): a ratio when both runs have events, otherwise the risk difference in
percentage points with its interval and a one-sided bound on the rate.

A ratio with a zero on either side says nothing a reader can use: x/0 is infinite whatever x
is, 0/x is 0 whatever x is, and 0/0 with a bootstrap interval of [1, 1] claims a certainty that
66 quiet turns cannot give. The difference and the bound can.

>>> statement(c)                                                     # doctest: +SKIP
'+9.1 pp (95% CI +3.0 to +17 pp); candidate rate ≤ 17% at 95%'
>>> statement(both_zero)                                             # doctest: +SKIP
'0 of 66 in both runs: nothing to compare; rate < 4.4% at 95% for each'
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from grader.estimate import Estimate
from grader.intervals import upper_bound, zero_event_upper

if TYPE_CHECKING:
    from grader.compare import Comparison

ZeroSide = Literal["baseline", "candidate", "both"]
Quantity = Literal["ratio", "difference", "rate"]


def zero_side(baseline: Estimate, candidate: Estimate) -> ZeroSide | None:
    """Which side has no event (a zero rate), if any: then a ratio is not shown."""
    b, c = baseline.rate == 0, candidate.rate == 0
    if b and c:
        return "both"
    return "baseline" if b else "candidate" if c else None


RATIO_REASONS: dict[ZeroSide, str] = {
    "both": "neither run has an event, so there is nothing to compare",
    "baseline": "the baseline has no event, so a ratio is undefined (any increase over zero "
                "would be infinite)",
    "candidate": "the candidate has no event, so a ratio is 0 however large the drop",
}


def rate_upper(e: Estimate) -> float:
    """One-sided upper bound on a rate at its interval's confidence: exact at zero events (the
    `zero_event_upper` of the estimate), Clopper–Pearson on the effective sample otherwise."""
    conf = e.interval.confidence
    if e.rate == 0:
        return zero_event_upper(e.n, conf)
    return upper_bound(e.rate * e.effective_n, e.effective_n, conf)


def level(confidence: float) -> str:
    """0.95 -> '95%'."""
    return f"{confidence * 100:g}%"


def pp_number(x: float) -> str:
    """A difference of rates in percentage points, signed, without the unit: 0.0909 -> '+9.1'."""
    v = x * 100
    if v == 0 or math.isnan(v):
        return "0"
    return f"{v:+.1f}" if abs(v) >= 1 else f"{v:+.2g}"


def pp(x: float) -> str:
    """A difference of rates in percentage points: 0.0909 -> '+9.1 pp'."""
    return f"{pp_number(x)} pp"


def pct(x: float) -> str:
    """A bound on a rate as a short percentage: 0.1667 -> '17%', 0.0444 -> '4.4%'."""
    v = x * 100
    if v == 0:
        return "0%"
    if v >= 10:
        return f"{v:.0f}%"
    return f"{v:.2g}%" if v >= 0.001 else f"{v:.1e}%"


def ratio_number(x: float | None) -> str:
    """A ratio or a ratio bound: 2.0 -> '2×'; an infinite (None) upper bound -> 'unbounded'."""
    if x is None or math.isinf(x):
        return "unbounded"
    return f"{x:.3g}×"


def difference_text(c: Comparison) -> str:
    """'+9.1 pp (95% CI +3.0 to +17 pp)'."""
    iv = c.difference_interval
    return (f"{pp(c.difference)} ({level(iv.confidence)} CI {pp_number(iv.low)} to "
            f"{pp_number(iv.high)} pp)")


def bound_text(c: Comparison) -> str:
    """'candidate rate ≤ 17% at 95%' (one-sided; '<' when the candidate had no event)."""
    rel = "<" if c.candidate.rate == 0 else "≤"
    return (f"candidate rate {rel} {pct(rate_upper(c.candidate))} at "
            f"{level(c.difference_interval.confidence)}")


def statement(c: Comparison) -> str:
    """The change in one line: the ratio with its interval when both runs have events, else
    the difference in percentage points with its interval and a one-sided bound."""
    conf = level(c.difference_interval.confidence)
    side = c.zero_side
    if side == "both":
        nb, nc = c.baseline.n, c.candidate.n
        ub, uc = pct(rate_upper(c.baseline)), pct(rate_upper(c.candidate))
        counts = f"0 of {nb:,} in both runs" if nb == nc else \
            f"0 of {nb:,} (baseline) and 0 of {nc:,} (candidate)"
        bounds = f"rate < {ub} at {conf} for each" if ub == uc else \
            f"baseline rate < {ub}, candidate rate < {uc} at {conf}"
        return f"{counts}: nothing to compare; {bounds}"
    if side is not None:
        return f"{difference_text(c)}; {bound_text(c)}"
    lo, hi = c.ratio_interval.as_list()
    return (f"{ratio_number(c.ratio)} ({level(c.ratio_interval.confidence)} CI "
            f"{ratio_number(lo)} to {ratio_number(hi)}); {difference_text(c)}")


def quantity_number(x: float | None, quantity: Quantity) -> str:
    """A check's value, bound or threshold as the quantity it measures."""
    if x is None:
        return "unbounded"
    if quantity == "difference":
        return pp(x)
    if quantity == "rate":
        v = x * 100  # three significant digits, as the rate columns show it
        return "0%" if v == 0 else f"{v:.3g}%" if abs(v) >= 0.01 else f"{v:.1e}%"
    return ratio_number(x)


def interval_text(low: float | None, high: float | None, quantity: Quantity) -> str:
    """'[+3.0, +17] pp', '[1.33×, 9×]', '[0%, 4.4%]'."""
    if quantity == "difference":
        lo = "unbounded" if low is None else pp_number(low)
        hi = "unbounded" if high is None else pp_number(high)
        return f"[{lo}, {hi}] pp"
    return f"[{quantity_number(low, quantity)}, {quantity_number(high, quantity)}]"


__all__ = ["RATIO_REASONS", "Quantity", "ZeroSide", "bound_text", "difference_text",
           "interval_text", "level", "pct", "pp", "pp_number", "quantity_number", "rate_upper",
           "ratio_number", "statement", "zero_side"]

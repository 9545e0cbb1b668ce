"""Risk differences (candidate − baseline) in percentage points with their interval, the way
the report shows them beside every pair of rates: `+3.2 pp [+1.1, +5.4]`.

Behavior rates come from a paired comparison, which carries its own (paired-bootstrap)
interval of the difference. Segment and per-session rates do not: their difference gets
Newcombe's interval from the two rates' own intervals, which ignores the pairing and so is
wider (never narrower) than a paired one would be.

>>> pp_interval(0.032, 0.011, 0.054)
'+3.2 pp [+1.1, +5.4]'
"""

from __future__ import annotations

import math

from grader.change import pp, pp_number
from grader.compare import Comparison
from grader.estimate import SegmentEstimate
from grader.intervals import Interval


def pp_interval(difference: float, low: float | None, high: float | None) -> str:
    """'+3.2 pp [+1.1, +5.4]'; an open bound reads 'unbounded'."""
    lo = "unbounded" if low is None or math.isinf(low) else pp_number(low)
    hi = "unbounded" if high is None or math.isinf(high) else pp_number(high)
    return f"{pp(difference)} [{lo}, {hi}]"


def paired_pp(c: Comparison) -> str:
    """A behavior's change in percentage points with its paired interval."""
    iv = c.difference_interval
    return pp_interval(c.difference, iv.low, iv.high)


def newcombe(baseline: float, baseline_iv: Interval, candidate: float,
             candidate_iv: Interval) -> tuple[float, float, float]:
    """candidate − baseline and Newcombe's (hybrid score) interval for it, from the two rates
    and their own intervals: (difference, low, high)."""
    d = candidate - baseline
    low = d - math.hypot(candidate - candidate_iv.low, baseline_iv.high - baseline)
    high = d + math.hypot(candidate_iv.high - candidate, baseline - baseline_iv.low)
    return d, max(low, -1.0), min(high, 1.0)


def unpaired_pp(baseline: float, baseline_iv: Interval, candidate: float,
                candidate_iv: Interval) -> str:
    """Two rates' difference with Newcombe's interval, as text."""
    return pp_interval(*newcombe(baseline, baseline_iv, candidate, candidate_iv))


def segment_pp(baseline: SegmentEstimate | None, candidate: SegmentEstimate | None) -> str:
    """One segment's difference ('–' when a run has no unit in it)."""
    if baseline is None or candidate is None:
        return "–"
    return unpaired_pp(baseline.rate, baseline.interval, candidate.rate, candidate.interval)


__all__ = ["newcombe", "paired_pp", "pp_interval", "segment_pp", "unpaired_pp"]

"""The baseline-anchored prediction: the deployed model's observed production rate times the
candidate/baseline ratio the simulation measured on the same prefixes.

A bias both replays share (stale tool answers, users who cannot react, a grader that reads
replays differently) multiplies both simulated rates alike and cancels in the ratio; what is
left is the observed rate, which carries no simulation bias at all, moved by the change the
simulation saw. Everything here is vectorised so a bootstrap replicate is computed exactly like
the point estimate.

Zeros, where a ratio is undefined or says nothing, are handled so that no output is ever inf or
nan (`docs/calibration.md`, "Predicting the deployment rate"):

- the baseline's simulated rate is 0: the ratio is undefined, so the *difference* the
  simulation saw is added instead (`mode = "difference"`: observed + candidate − baseline);
- the observed or the candidate's rate is 0 (baseline > 0): that rate is continuity-corrected
  to 0.5 / (n + 1) so the ratio still carries the change, and the interval's upper end uses
  the rate's one-sided upper bound (a rate seen as zero could be as high as that).

>>> point("ratio", Rates(0.02, 1000), Rates(0.04, 500), Rates(0.06, 500))   # doctest: +SKIP
0.03
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from grader.intervals import upper_bound

Mode = Literal["ratio", "difference"]
CONTINUITY = 0.5
"""Pseudo-events added to a zero count (Haldane–Anscombe): (0 + 0.5) / (n + 1)."""


@dataclass(frozen=True)
class Rates:
    """One side's rate (a point, or bootstrap replicates) and the units it rests on."""

    rate: float | np.ndarray
    n: float
    """Units (effective, after weighting) behind the rate: sizes the continuity correction."""


def choose_mode(baseline_rate: float) -> Mode:
    """`ratio` when the baseline has simulated events, else `difference`."""
    return "ratio" if baseline_rate > 0 else "difference"


def safe(r: Rates) -> np.ndarray:
    """The rate with zeros continuity-corrected: never 0, so a ratio and its log are finite."""
    rate = np.asarray(r.rate, float)
    return np.where(rate > 0, rate, CONTINUITY / (r.n + 1))


def ratio(candidate: Rates, baseline: Rates) -> np.ndarray:
    """candidate / baseline with zeros continuity-corrected (finite, positive)."""
    return safe(candidate) / safe(baseline)


def combine(mode: Mode, observed: Rates, baseline: Rates, candidate: Rates) -> np.ndarray:
    """The predicted rate (point or replicates), in [0, 1]."""
    if mode == "ratio":
        out = safe(observed) * ratio(candidate, baseline)
    else:
        out = (np.asarray(observed.rate, float) + np.asarray(candidate.rate, float)
               - np.asarray(baseline.rate, float))
    return np.clip(out, 0.0, 1.0)


def point(mode: Mode, observed: Rates, baseline: Rates, candidate: Rates) -> float:
    """The predicted rate at the point estimates."""
    return float(combine(mode, observed, baseline, candidate))


def zero_widened(mode: Mode, low: float, high: float, observed: Rates, baseline: Rates,
                 candidate: Rates, confidence: float) -> tuple[float, float, list[str]]:
    """Widen a bootstrap interval where a side has no event, since every resample of a zero
    count is zero again and the bootstrap alone would claim a certainty the sample lacks.
    Returns the interval and one note per widening."""
    notes: list[str] = []
    sides = (("observed", observed), ("candidate", candidate))
    if mode == "ratio":
        for name, r in sides:
            if float(r.rate) == 0:
                up = upper_bound(0, r.n, confidence)
                high = high * up / float(safe(r))
                notes.append(f"the {name} rate has no event in {r.n:,.0f} units: the interval "
                             f"reaches its one-sided bound {up:.3g}")
    else:
        # neither simulated side has an event (or only the candidate has): Newcombe-style, the
        # change could be as large as either zero side's own upper bound
        for name, r, sign in (("candidate", candidate, 1), ("baseline", baseline, -1)):
            if float(r.rate) == 0:
                up = upper_bound(0, r.n, confidence)
                if sign > 0:
                    high += up
                else:
                    low -= up
                notes.append(f"the simulated {name} rate has no event in {r.n:,.0f} units: "
                             f"the interval allows a change up to its bound {up:.3g}")
        if float(observed.rate) == 0:
            up = upper_bound(0, observed.n, confidence)
            high += up
            notes.append(f"the observed rate has no event in {observed.n:,.0f} units: the "
                         f"interval allows it up to its bound {up:.3g}")
    return max(0.0, low), min(1.0, high), notes

"""Honest intervals at small counts: the anchor's observed rate by Jeffreys, not the bootstrap.

A cluster bootstrap of a rate resting on a handful of events is too narrow, mostly on the
upper side: it can only resample the events it saw, so a corpus that happened to show 5
events where 9 were typical never proposes 9. The observed rate is the anchor every
prediction is multiplied from, so its exact-type (Jeffreys) interval is the honest one there.
The widening keeps the joint bootstrap (which carries the pairing of the observed corpus with
both replays, and the grader's uncertainty) and adds, in quadrature on the log scale, only the
part of the Jeffreys interval the bootstrap's own interval of the observed rate misses:

    half-width' = sqrt(half-width² + max(0, jeffreys² − bootstrap²))   (each end, log scale)

With tens of events the two agree (an end would move by less than 1%) and nothing changes.

>>> small_count_widened(0.01, 0.005, 0.02, anchor, 0.95)              # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grader.estimate import percentile
from grader.intervals import jeffreys

MATERIAL = 0.01
"""An end that would move by less than this share is left alone (and no note is written)."""


@dataclass(frozen=True)
class Anchor:
    """The observed rate a prediction is anchored on, as the bootstrap and Jeffreys see it."""

    k: float
    """Flagged units behind the rate (effective: rate × effective n)."""
    n: float
    """Effective units."""
    point: float
    """The rate the prediction uses (after the grader correction, if any)."""
    replicates: np.ndarray
    """The bootstrap replicates of that rate."""
    correct: Callable[[float], float]
    """The grader correction applied to a raw rate (identity when none)."""


def _excess(point: float, exact: float, boot: float) -> float:
    """The squared log distance from `point` that `exact` reaches beyond `boot` (≥ 0)."""
    if exact <= 0:
        return math.inf
    if boot <= 0:
        return 0.0
    return max(0.0, math.log(point / exact) ** 2 - math.log(point / boot) ** 2)


def small_count_widened(predicted: float, low: float, high: float, anchor: Anchor,
                        confidence: float) -> tuple[float, float, str | None]:
    """The interval widened where the observed rate's Jeffreys interval is wider than the
    bootstrap's (see the module docstring), with a note saying so, or unchanged."""
    if predicted <= 0 or anchor.k <= 0 or anchor.point <= 0:
        return low, high, None  # no event: `predict_anchor.zero_widened` bounds it instead
    exact = jeffreys(anchor.k, anchor.n, confidence)
    ex_lo, ex_hi = anchor.correct(exact.low), anchor.correct(exact.high)
    b_lo, b_hi = percentile(np.asarray(anchor.replicates, float), confidence)
    add_lo = _excess(anchor.point, ex_lo, b_lo)
    add_hi = _excess(anchor.point, ex_hi, b_hi) if ex_hi > anchor.point else 0.0
    new_lo = 0.0 if not math.isfinite(add_lo) or low <= 0 else \
        predicted * math.exp(-math.sqrt(math.log(predicted / low) ** 2 + add_lo))
    new_hi = high if high <= 0 else \
        min(1.0, predicted * math.exp(math.sqrt(math.log(high / predicted) ** 2 + add_hi)))
    if new_lo >= low * (1 - MATERIAL) and new_hi <= high * (1 + MATERIAL):
        return low, high, None  # the two agree: no note for a hair's breadth
    note = (f"the observed rate rests on {anchor.k:.1f} effective event(s) in "
            f"{anchor.n:,.0f} units: its Jeffreys interval is wider than the bootstrap's, and "
            "the prediction's interval is widened by the difference")
    return min(new_lo, low), max(new_hi, high), note

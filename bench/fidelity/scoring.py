"""Scoring estimates against the truth: multiplicative error, direction, coverage, medians.

Pure functions (tested in tests/bench/test_fidelity_scoring.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

MOVED = 1.5
"""A true rate "moved" when it changed by at least this factor between the releases."""


def smoothed(rate: float, n: int) -> float:
    """The rate with the continuity correction `deploysim calibrate` uses, (k + 0.5)/(n + 1)."""
    return (rate * n + 0.5) / (n + 1)


def multiplicative_error(est: float, true: float, n: int) -> float:
    """max(est/true, true/est); when either is zero both are smoothed over `n` units."""
    if est <= 0 or true <= 0:
        if est <= 0 and true <= 0:
            return 1.0
        est, true = smoothed(est, n), smoothed(true, n)
    return max(est / true, true / est)


def direction(after: float, before: float, factor: float = 1.0) -> str:
    """up / down / same, where "same" is within `factor` either way (1.0: exactly equal)."""
    if after > before * factor and after > 0:
        return "up"
    if after * factor < before:
        return "down"
    return "same"


def summarize(cells: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    """Median error, direction accuracy (over moved cells) and coverage of one estimator."""
    scored = [c for c in cells if name in c and c["informative"]]
    errors = [c[name]["error"] for c in scored]
    moved = [c for c in scored if c["moved"] and c[name].get("direction") is not None]
    calls = [c for c in scored if c["moved"] and c[name].get("call") not in (None, "same")]
    covered = [c[name]["covered"] for c in scored if c[name].get("covered") is not None]
    # how wide the intervals are (high / low): coverage bought by width shows here
    widths = [c[name]["interval"][1] / c[name]["interval"][0] for c in scored
              if c[name].get("interval") and c[name]["interval"][0] > 0]
    return {
        "cells": len(scored),
        "median_error": round(statistics.median(errors), 3) if errors else None,
        "direction_accuracy": (round(sum(c[name]["direction"] == c["true_direction"]
                                         for c in moved) / len(moved), 3) if moved else None),
        "moved_cells": len(moved),
        # the estimator's own calls (predict: only where its interval excludes no change)
        "calls": len(calls),
        "call_accuracy": (round(sum(c[name]["call"] == c["true_direction"] for c in calls)
                                / len(calls), 3) if calls else None),
        "coverage": round(sum(covered) / len(covered), 3) if covered else None,
        "median_width": round(statistics.median(widths), 2) if widths else None,
    }


CALLS = {"up": "up", "down": "down", "no detectable change": "same"}


def score(est: float, interval: tuple[float, float] | None, reference: float | None,
          true: float, n: int, call: str | None = None) -> dict[str, Any]:
    """One estimator on one cell (`call`: the direction it reported itself, if any)."""
    out: dict[str, Any] = {"rate": round(est, 5),
                           "error": round(multiplicative_error(est, true, n), 3)}
    if interval is not None:
        out["interval"] = [round(interval[0], 5), round(interval[1], 5)]
        out["covered"] = interval[0] <= true <= interval[1]
    out["direction"] = direction(est, reference) if reference is not None else "same"
    if call is not None:
        out["call"] = CALLS.get(call, "same")
    return out

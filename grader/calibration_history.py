"""The calibration history: what `deploysim calibrate` measured on earlier releases, kept in a
small JSON file so predictions can widen their intervals by the simulation's *own* error on
the user's traffic instead of an assumed band.

Each `calibrate --history FILE` appends one entry per model (`kind = "simulated"`: the
multiplicative error of the simulated rate against the observed one) and, with several models
in release order, one per consecutive pair (`kind = "anchored"`: the error the baseline-anchored
prediction would have made, observed_k × simulated_k+1 / simulated_k against observed_k+1).

A prediction uses the anchored errors when the history has any (they measure the estimator
`predict` uses), else the simulated ones (larger, so conservative); a behavior's own errors
when it has at least `MIN_OWN` of them, else every behavior's. From those errors e it takes
σ = sqrt(mean(ln(e)²)), the root-mean-square log error (it counts bias and spread alike), and
combines it with the sampling interval on the log scale in quadrature:

    half-width' = sqrt(half-width² + (q·σ)²),   q = t(m)

where m is the number of errors σ was measured from: the Student-t predictive bound for the
*next* error, not z, because a σ measured from six errors may well be too small (z is what q
tends to as the history grows).

Quadrature is how independent log-normal errors add; multiplying the interval's ends by a
high percentile of past errors would add them linearly, as if the worst simulation error and
the worst sampling error always coincided, and over-cover.

>>> h = load_history("calibration-history.json")                  # doctest: +SKIP
>>> h.sigma("destructive-shell")
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.errors import GateError
from grader.intervals import t_quantile, z_value
from grader.predict_anchor import Rates, choose_mode, combine, safe

if TYPE_CHECKING:
    from grader.calibrate import Calibration

FORMAT_VERSION = 1
MIN_OWN = 3
"""A behavior needs this many measured errors of its own before they are used alone."""
FEW = 5
"""Fewer measured errors than this in all: a warning that the widening is itself uncertain."""
Kind = Literal["simulated", "anchored"]


class HistoryEntry(BaseModel):
    """What one calibration measured for one model (or one change between two)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    """The model (`acme-2026-05`) or the change (`acme-2026-04 -> acme-2026-05`)."""
    kind: Kind
    """`simulated`: simulated rate vs observed; `anchored`: anchored prediction vs observed."""
    recorded_at: str
    """When `calibrate` measured it (UTC, ISO 8601)."""
    errors: dict[str, float] = Field(default_factory=dict)
    """Behavior -> multiplicative error max(est/obs, obs/est) (informative behaviors only)."""


class CalibrationHistory(BaseModel):
    """The history file."""

    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    entries: list[HistoryEntry] = Field(default_factory=list)

    def errors(self, behavior: str) -> tuple[list[float], Kind, str]:
        """The errors a prediction of `behavior` is widened by, their kind, and their scope
        (`behavior` or `pooled`)."""
        kind: Kind = "anchored" if any(e.kind == "anchored" for e in self.entries) \
            else "simulated"
        chosen = [e for e in self.entries if e.kind == kind]
        own = [e.errors[behavior] for e in chosen if behavior in e.errors]
        if len(own) >= MIN_OWN:
            return own, kind, "behavior"
        return [x for e in chosen for x in e.errors.values()], kind, "pooled"

    def sigma(self, behavior: str) -> tuple[float, int, Kind, str] | None:
        """(σ of the log error, errors used, kind, scope), or None with nothing measured."""
        errs, kind, scope = self.errors(behavior)
        logs = [math.log(e) for e in errs if e >= 1 and math.isfinite(e)]
        if not logs:
            return None
        return math.sqrt(sum(x * x for x in logs) / len(logs)), len(logs), kind, scope


def error_quantile(sigma: float, confidence: float, count: int | None = None) -> float:
    """How far (log scale) the next simulation error may reach at `confidence`: z·σ when σ is
    known, else the predictive Student-t bound t(count)·σ for σ the root-mean-square of
    `count` past log errors (centred on no error, so the next one over σ is t with `count`
    degrees of freedom): a σ estimated from a handful of errors is itself uncertain, and z·σ
    covers the next error only ~90% of the time at 6 errors."""
    if count is None or count < 1:
        return z_value(confidence) * sigma
    return t_quantile(confidence, float(count)) * sigma


def widen(point: float, low: float, high: float, sigma: float, confidence: float,
          count: int | None = None) -> tuple[float, float]:
    """The interval widened by a log-normal simulation error σ, in quadrature on the log scale
    (an end at 0, or a point at 0, is widened multiplicatively on the side that can move);
    `count`, the errors σ was measured from, makes the widening predictive
    (`error_quantile`)."""
    zs = error_quantile(sigma, confidence, count)
    if point <= 0:
        return low, min(1.0, high * math.exp(zs))
    lo = point * math.exp(-math.hypot(math.log(point / low), zs)) if low > 0 else 0.0
    hi = point * math.exp(math.hypot(math.log(high / point), zs)) if high > 0 else 0.0
    return lo, min(1.0, hi)


def load_history(path: str) -> CalibrationHistory:
    """Read a history file; a missing file is an empty history (calibrate creates it)."""
    if not os.path.exists(path):
        return CalibrationHistory()
    try:
        with open(path, encoding="utf-8") as f:
            return CalibrationHistory.model_validate(json.load(f))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise GateError(f"The calibration history {path} cannot be read ({type(exc).__name__}); "
                        "give a file written by `deploysim calibrate --history`, or a new "
                        "path.") from exc


def save_history(path: str, history: CalibrationHistory) -> None:
    """Write the history (atomically: a crash leaves the old file)."""
    tmp = f"{path}.tmp"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(history.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)


def entries_from(calibration: Calibration, now: str | None = None) -> list[HistoryEntry]:
    """History entries for a calibration: one per model, one per consecutive change."""
    stamp = now or datetime.now(UTC).isoformat(timespec="seconds")
    out = [HistoryEntry(label=p.label, kind="simulated", recorded_at=stamp,
                        errors={b: c.error for b, c in p.behaviors.items()
                                if c.informative and c.error})
           for p in calibration.pairs]
    for before, after in pairwise(calibration.pairs):
        errors: dict[str, float] = {}
        for bid, b in before.behaviors.items():
            a = after.behaviors.get(bid)
            if a is None:
                continue
            obs_b = Rates(b.observed.rate, b.observed.n)
            sim_b, sim_a = Rates(b.simulated.rate, b.simulated.n), \
                Rates(a.simulated.rate, a.simulated.n)
            pred = float(combine(choose_mode(b.simulated.rate), obs_b, sim_b, sim_a))
            truth = a.observed.rate
            if pred == 0 and truth == 0:
                continue  # agrees trivially: says nothing about accuracy
            p = float(safe(Rates(pred, a.simulated.n)))
            t = float(safe(Rates(truth, a.observed.n)))
            errors[bid] = max(p / t, t / p)
        out.append(HistoryEntry(label=f"{before.label} -> {after.label}", kind="anchored",
                                recorded_at=stamp, errors=errors))
    return out


def append_history(path: str, calibration: Calibration) -> CalibrationHistory:
    """Append what a calibration measured to the history file (created on first use)."""
    history = load_history(path)
    history.entries.extend(entries_from(calibration))
    save_history(path, history)
    return history


def summarize(history: CalibrationHistory, behaviors: Sequence[str]) -> dict[str, object]:
    """Counts for the JSON: entries by kind and errors available per behavior."""
    return {"entries": len(history.entries),
            "anchored": sum(e.kind == "anchored" for e in history.entries),
            "simulated": sum(e.kind == "simulated" for e in history.entries),
            "errors": {b: len(history.errors(b)[0]) for b in behaviors}}

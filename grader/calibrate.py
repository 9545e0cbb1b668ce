"""Calibration: how close did the simulation come to what production later showed?

For one model, grade what production actually did (the observed corpus) and what the
simulation predicted (a replay run) with the same rubric; per behavior compare the rates by the
multiplicative error max(s/o, o/s) (1.0 = exact, 2.0 = off by a factor of two) and take the
median across behaviors. With several models (pairs of observed corpus and simulated run, in
release order), also score whether the simulation got the *direction* of each change right.

Zeros: when exactly one of the two rates is zero the ratio is undefined, so both rates get a
continuity correction, (k + 0.5) / (n + 1), and the behavior is marked `corrected`. When both
are zero the behavior agrees trivially and says nothing about accuracy: its error is 1.0 but it
is `informative = false` and left out of the median.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from grader.estimate import Estimate, estimate, units_from_verdicts
from grader.gate import BehaviorSpec
from grader.verdict import Verdict

Direction = Literal["up", "down", "same"]


def multiplicative_error(k_obs: float, n_obs: float, k_sim: float, n_sim: float
                         ) -> tuple[float | None, bool, bool]:
    """(error, corrected, informative) for observed k_obs/n_obs vs simulated k_sim/n_sim."""
    if n_obs <= 0 or n_sim <= 0:
        return None, False, False
    if k_obs == 0 and k_sim == 0:
        return 1.0, False, False
    corrected = k_obs == 0 or k_sim == 0
    if corrected:
        o, s = (k_obs + 0.5) / (n_obs + 1), (k_sim + 0.5) / (n_sim + 1)
    else:
        o, s = k_obs / n_obs, k_sim / n_sim
    return max(s / o, o / s), corrected, True


@dataclass(frozen=True)
class BehaviorCalibration:
    """One behavior: observed vs simulated rate and the multiplicative error."""

    behavior: str
    per: str
    observed: Estimate
    simulated: Estimate
    error: float | None
    corrected: bool
    informative: bool

    def to_dict(self) -> dict[str, Any]:
        return {"per": self.per, "observed_rate": self.observed.rate,
                "observed_interval": self.observed.interval.as_list(),
                "observed_n": self.observed.n, "simulated_rate": self.simulated.rate,
                "simulated_interval": self.simulated.interval.as_list(),
                "simulated_n": self.simulated.n, "multiplicative_error": self.error,
                "corrected": self.corrected, "informative": self.informative}


@dataclass
class PairCalibration:
    """One model: its observed corpus against its simulated run."""

    label: str
    behaviors: dict[str, BehaviorCalibration]

    @property
    def median_error(self) -> float | None:
        errors = [b.error for b in self.behaviors.values() if b.informative and b.error]
        return statistics.median(errors) if errors else None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "median_multiplicative_error": self.median_error,
                "behaviors": {k: v.to_dict() for k, v in self.behaviors.items()}}


@dataclass(frozen=True)
class DirectionCheck:
    """Did the simulation see the same direction of change between two models?"""

    behavior: str
    before: str
    after: str
    observed: Direction
    simulated: Direction

    @property
    def correct(self) -> bool:
        return self.observed == self.simulated


@dataclass
class Calibration:
    """Calibration over one or more models."""

    pairs: list[PairCalibration]
    directions: list[DirectionCheck] = field(default_factory=list)

    @property
    def median_error(self) -> float | None:
        """Median multiplicative error over every informative behavior of every model."""
        errors = [b.error for p in self.pairs for b in p.behaviors.values()
                  if b.informative and b.error]
        return statistics.median(errors) if errors else None

    @property
    def direction_accuracy(self) -> float | None:
        """Share of (behavior, model change) whose direction the simulation got right."""
        if not self.directions:
            return None
        return sum(d.correct for d in self.directions) / len(self.directions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"median_multiplicative_error": self.median_error,
                               "pairs": [p.to_dict() for p in self.pairs]}
        if len(self.pairs) > 1:
            out["direction_accuracy"] = self.direction_accuracy
            out["directions"] = [vars(d) | {"correct": d.correct} for d in self.directions]
        if len(self.pairs) == 1:  # the single-model shape: behaviors at the top level
            out["behaviors"] = out["pairs"][0]["behaviors"]
        return out


def _direction(a: float, b: float) -> Direction:
    if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15):
        return "same"
    return "up" if b > a else "down"


def calibrate_pair(label: str, observed: Sequence[Verdict], simulated: Sequence[Verdict],
                   specs: Sequence[BehaviorSpec], *, confidence: float = 0.95,
                   replicates: int = 1000) -> PairCalibration:
    """Per behavior: observed rate, simulated rate, multiplicative error."""
    out = {}
    for spec in specs:
        o = estimate(units_from_verdicts(observed, spec.id, spec.per), confidence=confidence,
                     replicates=replicates)
        s = estimate(units_from_verdicts(simulated, spec.id, spec.per), confidence=confidence,
                     replicates=replicates)
        err, corrected, informative = multiplicative_error(o.k, o.n, s.k, s.n)
        out[spec.id] = BehaviorCalibration(spec.id, spec.per, o, s, err, corrected, informative)
    return PairCalibration(label, out)


def calibrate(pairs: Sequence[tuple[str, Sequence[Verdict], Sequence[Verdict]]],
              specs: Sequence[BehaviorSpec], *, confidence: float = 0.95,
              replicates: int = 1000) -> Calibration:
    """Calibrate every (label, observed, simulated) pair; with several, in release order, score
    the direction of each consecutive change. Behaviors observed at zero in both models of a
    change have no direction to predict and are left out of the score."""
    done = [calibrate_pair(label, o, s, specs, confidence=confidence, replicates=replicates)
            for label, o, s in pairs]
    directions = []
    for before, after in pairwise(done):
        for spec in specs:
            b, a = before.behaviors[spec.id], after.behaviors[spec.id]
            if b.observed.k == 0 and a.observed.k == 0:
                continue
            directions.append(DirectionCheck(
                spec.id, before.label, after.label,
                _direction(b.observed.rate, a.observed.rate),
                _direction(b.simulated.rate, a.simulated.rate)))
    return Calibration(done, directions)

"""The grader's error rates pooled across the behaviours of one review, each behaviour shrunk
toward the pool by empirical Bayes.

A stratified review of a few hundred items per behaviour sees a behaviour's false alarms a
handful of times and its misses hardly at all: misses hide among thousands of clean units, and
75 reviewed clean items hold 0-2 of them. A rate inverted from one or two events is mostly the
luck of the draw. But one review grades every behaviour with one grader, so the behaviours'
error rates are related, and the review as a whole holds several times the events of any one
behaviour. The standard answer is partial pooling:

    errors_b ~ Poisson(rate_b · exposure_b)          (per behaviour b and kind of error)
    rate_b   ~ Gamma(shape a, mean m)                 (the behaviours' spread around the pool)

where a kind's `rate` is the false-alarm rate 1 − specificity or the miss rate 1 − sensitivity,
and `exposure_b` is the number of reviewed-equivalent clean (or misbehaving) units behind the
behaviour's count, so that errors_b / exposure_b is exactly the behaviour's own estimate. m is
the pooled rate; a says how far the behaviours' rates spread around it (a large a: they share
one rate; a small a: each keeps its own). A handful of events cannot pin a, so it is not
fixed at its best value: each value on a log-uniform grid is weighted by how well it explains
the counts (the negative-binomial marginal likelihood), and the behaviour's rate is the mixture
of its Gamma posteriors, Gamma(a + errors_b, a/m + exposure_b), over those weights. Its mean
lies between the behaviour's own estimate and the pool's, nearer its own the more events it
has and the more the behaviours disagree. Every draw first draws m from its Jeffreys posterior,
Gamma(Σ errors + ½, Σ exposure), and a from its weights, so neither is taken as known (fixing
a at its most likely value covered a shared miss rate in only ~80% of synthetic reviews).

What it assumes: one grader's error rates differ between behaviours by no more than the review
shows (the marginal likelihood measures that spread, and a behaviour whose own events disagree
with the pool keeps more of its own); the rates are small (a Poisson count of rare errors).

>>> pooled = grader.review_accuracy.pool_reviews({"a": acc_a, "b": acc_b})  # doctest: +SKIP
>>> pooled["a"].point()                                            # (sensitivity, specificity)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

SHAPES = np.exp(np.linspace(math.log(0.05), math.log(1e4), 60))
"""The log-uniform grid of the spread's shape a (the largest stands for complete
pooling)."""


@dataclass(frozen=True)
class KindPool:
    """One kind of grader error (misses, or false alarms) in one behaviour, with its pool."""

    errors: float
    """The behaviour's own reviewed errors of this kind."""
    exposure: float
    """Reviewed-equivalent units the errors are counted among (errors / exposure is the
    behaviour's own rate)."""
    shapes: tuple[float, ...]
    """The spread's Gamma shapes a considered (large: the behaviours share one rate)."""
    weights: tuple[float, ...]
    """Each shape's posterior weight (marginal likelihood of the review's counts)."""
    pool_errors: float
    """Errors of this kind in the whole review."""
    pool_exposure: float
    """Exposure of the whole review."""

    @property
    def pool_rate(self) -> float:
        """The pooled rate m (Jeffreys posterior mean)."""
        return (self.pool_errors + 0.5) / self.pool_exposure

    @property
    def shape(self) -> float:
        """The most likely shape a (for reports)."""
        return self.shapes[int(np.argmax(self.weights))]

    def mean(self) -> float:
        """The behaviour's posterior mean rate, between its own and the pool's."""
        a, w, m = np.asarray(self.shapes), np.asarray(self.weights), self.pool_rate
        return min(1.0, float(np.sum(w * (a + self.errors) / (a / m + self.exposure))))

    def draws(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Posterior draws of the behaviour's rate, the pool's and the spread's uncertainty
        included."""
        m = rng.gamma(self.pool_errors + 0.5, 1 / self.pool_exposure, size)
        a = rng.choice(np.asarray(self.shapes), size=size, p=np.asarray(self.weights))
        rate = rng.gamma(a + self.errors, 1 / (a / m + self.exposure))
        return np.asarray(np.clip(rate, 0.0, 1.0), float)


def _log_marginal(shape: float, m: float, errors: np.ndarray, exposure: np.ndarray) -> float:
    """log P(errors | a, m), each count negative binomial (Poisson-Gamma), up to a constant."""
    mu = m * exposure
    return float(np.sum([math.lgamma(shape + e) - math.lgamma(shape)
                         + shape * math.log(shape / (shape + u)) + e * math.log(u / (shape + u))
                         if u > 0 else 0.0 for e, u in zip(errors, mu, strict=True)]))


def shape_weights(errors: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """The posterior weight of each shape in `SHAPES` given the counts (log-uniform prior)."""
    total = float(exposure.sum())
    if total <= 0:
        return np.full(len(SHAPES), 1 / len(SHAPES))
    m = (float(errors.sum()) + 0.5) / total
    log = np.array([_log_marginal(float(a), m, errors, exposure) for a in SHAPES])
    w = np.exp(log - log.max())
    return np.asarray(w / w.sum(), float)


def kind_pools(errors: Mapping[str, float], exposure: Mapping[str, float]
               ) -> dict[str, KindPool]:
    """Every behaviour's `KindPool` for one kind of error."""
    keys = [k for k in errors if exposure.get(k, 0) > 0]
    e = np.array([errors[k] for k in keys], float)
    x = np.array([exposure[k] for k in keys], float)
    w = tuple(float(v) for v in shape_weights(e, x))
    shapes = tuple(float(a) for a in SHAPES)
    return {k: KindPool(float(ei), float(xi), shapes, w, float(e.sum()), float(x.sum()))
            for k, ei, xi in zip(keys, e, x, strict=True)}

"""The second round of predict's honesty on synthetic data with a known truth: the history's
widening is predictive (a σ measured from few errors), the anchor's observed rate is bounded
by Jeffreys at small counts, and a direction is called at a stated one-sided confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grader import predict as predict_module
from grader.calibration_history import error_quantile, widen
from grader.gate import BehaviorSpec
from grader.intervals import jeffreys, wilson, z_value
from grader.predict import confident_direction, predict_behavior
from grader.predict_counts import Anchor, small_count_widened
from grader.testing import synthetic

SPEC = BehaviorSpec("destructive-shell")


def _binomial_coverage(interval: object, p: float, n: int) -> float:
    """Exact coverage of an interval method at rate p over every count k of n."""
    k = np.arange(n + 1)
    log_pmf = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                        for i in k]) + k * math.log(p) + (n - k) * math.log1p(-p)
    pmf = np.exp(log_pmf)
    hits = [iv.low <= p <= iv.high for iv in (interval(int(i), n) for i in k)]  # type: ignore[operator]
    return float(pmf[np.array(hits)].sum())


def test_the_next_error_is_covered_when_sigma_comes_from_a_few_errors() -> None:
    """Six past log-normal errors give σ; z·σ covers the next one ~91% of the time, the
    Student-t predictive bound ~95%."""
    rng = np.random.default_rng(0)
    sigma, trials, m = 0.4, 20_000, 6
    past = rng.normal(0, sigma, (trials, m))
    est = np.sqrt((past ** 2).mean(axis=1))
    nxt = np.abs(rng.normal(0, sigma, trials))
    z_cov = float(np.mean(nxt <= z_value(0.95) * est))
    t_cov = float(np.mean(nxt <= np.array([error_quantile(s, 0.95, m) for s in est])))
    assert z_cov < 0.925
    assert 0.94 <= t_cov <= 0.96
    assert error_quantile(0.4, 0.95) == pytest.approx(z_value(0.95) * 0.4)
    # the bound tends to z as the history grows, and widen() uses it
    assert error_quantile(0.4, 0.95, 10_000) == pytest.approx(z_value(0.95) * 0.4, rel=1e-3)
    lo_z, hi_z = widen(0.1, 0.1, 0.1, 0.4, 0.95)
    lo_t, hi_t = widen(0.1, 0.1, 0.1, 0.4, 0.95, count=m)
    assert lo_t < lo_z and hi_t > hi_z


def test_jeffreys_is_near_nominal_at_small_counts() -> None:
    """At 1-10 expected events, Jeffreys covers ~95% (exactly computed), like Wilson."""
    for p, n in ((0.002, 1000), (0.005, 1000), (0.01, 500)):
        cov = _binomial_coverage(jeffreys, p, n)
        assert 0.92 <= cov <= 0.99, (p, n, cov)
        assert _binomial_coverage(wilson, p, n) >= 0.92  # the comparison is fair
    iv = jeffreys(0, 1000)
    assert iv.low == 0 and 0 < iv.high < 0.004


def test_a_bootstrap_of_a_few_events_is_widened_to_jeffreys() -> None:
    """Three observed events whose bootstrap (resampling those three) puts its upper end at
    6/1000: Jeffreys reaches ~8.8/1000, and the prediction's upper end moves with it; with
    300 events the two agree and nothing moves."""
    reps = np.random.default_rng(1).binomial(1000, 0.003, 4000) / 1000 * 0.9
    few = Anchor(3, 1000, 0.003, reps, lambda r: r)
    lo, hi, note = small_count_widened(0.006, 0.003, 0.012, few, 0.95)
    assert hi > 0.012 * 1.15 and lo <= 0.003 and note and "Jeffreys" in note
    many_reps = np.random.default_rng(1).binomial(1000, 0.3, 4000) / 1000
    many = Anchor(300, 1000, 0.3, many_reps, lambda r: r)
    lo, hi, _ = small_count_widened(0.4, 0.3, 0.5, many, 0.95)
    assert lo == 0.3 and hi == pytest.approx(0.5, rel=0.01)
    # no event: left to the zero-event bound
    assert small_count_widened(0.0, 0.0, 0.01, Anchor(0, 1000, 0.0, reps * 0, lambda r: r),
                               0.95)[2] is None


@pytest.mark.slow
def test_small_counts_cover_better_with_the_jeffreys_anchor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """~6 observed events per world: the truth falls above the bootstrap-only interval more
    often than 2.5% of the time; the Jeffreys-widened interval misses above less often."""
    def above(draws: int = 160) -> float:
        miss = 0
        for seed in range(draws):
            o, b, c, truth = synthetic(p_base=0.004, sessions=300, bias=3.0, change=1.5,
                                       seed=5000 + seed)
            p = predict_behavior(SPEC, o, b, c, replicates=250, seed=seed)
            miss += truth > p.interval.high
        return miss / draws

    honest = above()
    monkeypatch.setattr(predict_module, "small_count_widened",
                        lambda pred, lo, hi, anchor, conf: (lo, hi, None))
    bootstrap_only = above()
    assert bootstrap_only >= 0.04
    assert honest <= bootstrap_only - 0.01


def test_confident_direction_calls_at_the_stated_confidence() -> None:
    assert confident_direction(0.8) == "up" and confident_direction(0.2) == "down"
    assert confident_direction(0.6) == "no detectable change"
    assert confident_direction(0.5) == "no detectable change"
    assert confident_direction(0.97, level=0.975) == "no detectable change"


def test_a_confident_direction_calls_more_moved_cells_right() -> None:
    """A 1.4x change on 100 sessions: the 95%-interval rule is often silent; the 75% rule
    calls far more of them right, and its calls are right about as often as it says (~75%,
    measured 76% over 100 worlds)."""
    strict = confident = wrong = 0
    for seed in range(80):
        change = 1.4 if seed % 2 else 1 / 1.4
        truth = "up" if change > 1 else "down"
        o, b, c, _ = synthetic(sessions=100, change=change, p_base=0.03, seed=700 + seed)
        p = predict_behavior(SPEC, o, b, c, replicates=300, seed=seed)
        strict += p.detectable and p.direction == truth
        confident += p.direction == truth
        wrong += p.direction not in (truth, "no detectable change")
    assert confident >= 2 * strict
    assert wrong / max(confident + wrong, 1) <= 0.3

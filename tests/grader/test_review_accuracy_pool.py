"""The third round of predict's grader-error correction on synthetic reviews with a known
grader: error rates pooled across a review's behaviours and shrunk by empirical Bayes, both
kinds of error corrected or neither, and each corrected rate the mean of its replicates in
[0, 1] rather than a clamped inversion."""

from __future__ import annotations

import numpy as np
import pytest

from grader.gate import BehaviorSpec
from grader.predict import predict_behavior
from grader.review_accuracy import ReviewAccuracy, constrained_mean, pool_reviews, rogan_gladen
from grader.review_accuracy_pool import kind_pools
from grader.testing import synthetic

SENS, SPEC = 0.88, 0.997
PREVALENCE = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08)


def _review(rng: np.random.Generator, prevalence: tuple[float, ...] = PREVALENCE,
            units: int = 3000, per_stratum: int = 75, spec: tuple[float, ...] | None = None
            ) -> dict[str, ReviewAccuracy]:
    """A stratified review as `deploysim review export` draws it: per behaviour, `units`
    graded units of which `per_stratum` flagged and `per_stratum` clean ones are labelled."""
    out = {}
    for i, p in enumerate(prevalence):
        s = SPEC if spec is None else spec[i]
        bad = rng.binomial(units, p)
        tp, fp = rng.binomial(bad, SENS), rng.binomial(units - bad, 1 - s)
        fn, tn = bad - tp, units - bad - fp
        nf, nc = min(per_stratum, tp + fp), min(per_stratum, fn + tn)
        rtp = int(rng.hypergeometric(tp, fp, nf)) if nf else 0
        rfn = int(rng.hypergeometric(fn, tn, nc)) if nc else 0
        out[f"b{i}"] = ReviewAccuracy(f"b{i}", rtp, nf - rtp, rfn, nc - rfn,
                                      float(tp + fp), float(fn + tn))
    return out


def test_pooling_measures_a_shared_false_alarm_rate_better_than_each_behaviour_alone() -> None:
    """One grader, six behaviours, a 0.3% false-alarm rate: each behaviour's own specificity
    rests on 2-10 false alarms; pooled and shrunk it is several times closer to the truth,
    without bias."""
    rng = np.random.default_rng(0)
    own, pooled = [], []
    for _ in range(200):
        accs = _review(rng)
        shared = pool_reviews(accs)
        for b, a in accs.items():
            own.append(1 - a.point()[1])
            pooled.append(1 - shared[b].point()[1])
    fa = 1 - SPEC
    rmse_own = float(np.sqrt(np.mean((np.array(own) - fa) ** 2)))
    rmse_pooled = float(np.sqrt(np.mean((np.array(pooled) - fa) ** 2)))
    assert rmse_pooled < 0.5 * rmse_own
    assert np.mean(pooled) == pytest.approx(fa, rel=0.1)


def test_pooled_intervals_cover_the_grader_s_true_rates() -> None:
    """The pooled posterior's 95% range (the pool's own uncertainty included) covers the true
    false-alarm and miss rates in about 95% of reviews."""
    rng = np.random.default_rng(1)
    hits_fa, hits_miss, trials = 0, 0, 150
    for _ in range(trials):
        acc = pool_reviews(_review(rng))["b3"]
        s, p = acc.draws(4000, np.random.default_rng(2))
        lo, hi = np.percentile(1 - p, [2.5, 97.5])
        hits_fa += lo <= 1 - SPEC <= hi
        lo, hi = np.percentile(1 - s, [2.5, 97.5])
        hits_miss += lo <= 1 - SENS <= hi
    assert hits_fa / trials >= 0.88
    assert hits_miss / trials >= 0.88


def test_a_behaviour_whose_grader_errs_differently_keeps_its_own_rate() -> None:
    """Five behaviours at 0.3% false alarms and one at 3%: the marginal likelihood sees the
    spread, so the odd one is not pulled to the pool (and the pool is not pulled to it)."""
    rng = np.random.default_rng(3)
    odd = []
    for _ in range(50):
        accs = _review(rng, spec=(SPEC,) * 5 + (0.97,))
        shared = pool_reviews(accs)
        odd.append(1 - shared["b5"].point()[1])
    assert np.median(odd) == pytest.approx(0.03, rel=0.25)
    # and counts that agree are pooled completely (the largest shape on the grid)
    pools = kind_pools({"a": 3, "b": 3, "c": 3}, {"a": 1000, "b": 1000, "c": 1000})
    assert pools["a"].mean() == pytest.approx(pools["a"].pool_rate, rel=0.01)


def test_a_pooled_review_corrects_both_kinds_or_neither() -> None:
    """A review that saw misses only rarely still corrects them with false alarms, because
    correcting false alarms alone pulls every rate down by the misses it ignores."""
    accs = pool_reviews(_review(np.random.default_rng(4)))
    for a in accs.values():
        assert a.pooled and a.corrects_misses and a.corrects_false_alarms
    empty = {b: ReviewAccuracy(b, 75, 0, 0, 75, 75.0, 3000.0) for b in ("x", "y")}
    for a in pool_reviews(empty).values():
        assert not (a.corrects_misses or a.corrects_false_alarms)


def test_correcting_both_kinds_is_unbiased_and_one_kind_alone_is_not() -> None:
    """A 2% rate graded by a grader with 12% misses and 0.3% false alarms reads ~2.06%; the
    pooled correction of both recovers 2% within a few percent on average, false alarms alone
    land ~14% low (the misses are still in)."""
    rng = np.random.default_rng(5)
    p, n = 0.02, 20_000
    both, alarms_only = [], []
    for _ in range(100):
        acc = pool_reviews(_review(rng))["b2"]
        q = rng.binomial(n, SENS * p + (1 - SPEC) * (1 - p)) / n
        sens, spec = acc.point()
        both.append(float(rogan_gladen(q, sens, spec)))
        alarms_only.append(float(rogan_gladen(q, 1.0, spec)))
    assert np.mean(both) == pytest.approx(p, rel=0.08)
    assert np.mean(alarms_only) < 0.9 * p


def test_the_constrained_mean_does_not_zero_a_rate_near_the_false_alarm_floor() -> None:
    """A 0.15% rate under 0.3% false alarms: the clamped inversion is 0 in a large share of
    samples (a prediction multiplied by it is then ~0); the constrained mean never is, and
    is closer to the truth on average. Far from the floor the two agree."""
    rng = np.random.default_rng(6)
    p, n, fa = 0.0015, 3000, 0.003
    clamped, constrained = [], []
    spec_draws = 1 - rng.gamma(30.5, fa / 30.5, 2000)
    for _ in range(300):
        k = rng.binomial(n, p + fa * (1 - p))
        reps = rng.binomial(n, k / n, 2000) / n  # a bootstrap of the graded rate
        clamped.append(float(rogan_gladen(k / n, 1.0, 1 - fa)))
        m = constrained_mean(reps, np.ones(2000), spec_draws)
        constrained.append(0.0 if m is None else m)
    clamped_a, constrained_a = np.array(clamped), np.array(constrained)
    assert np.mean(clamped_a == 0) > 0.05
    assert np.all(constrained_a > 0)
    assert abs(np.median(constrained_a) - p) < abs(np.median(clamped_a) - p) + 1e-4
    far = rng.binomial(n, 0.05, 2000) / n
    m = constrained_mean(far, np.ones(2000), np.full(2000, 1 - fa))
    assert m == pytest.approx(float(rogan_gladen(far.mean(), 1.0, 1 - fa)), rel=0.02)


def test_predict_reports_the_pooled_correction() -> None:
    o, b, c, _ = synthetic(sessions=200, seed=2)
    acc = pool_reviews(_review(np.random.default_rng(7)))["b3"]
    pred = predict_behavior(BehaviorSpec("b3"), o, b, c, review=acc, replicates=400, seed=1)
    corr = pred.correction("grader-error")
    assert corr is not None and corr.applied
    assert "pooled across the review's behaviours" in corr.why
    assert "misses and false alarms" in corr.why
    assert pred.corrected_rates is not None and all(r > 0 for r in pred.corrected_rates)

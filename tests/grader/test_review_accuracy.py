"""Rogan–Gladen: the true rate recovered from a grader with known error, its uncertainty
carried into the prediction, and a warning when the review is too small."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader.gate import BehaviorSpec
from grader.predict import predict_behavior
from grader.review_accuracy import ReviewAccuracy, load_review, rogan_gladen
from grader.testing import synthetic


def test_recovers_the_true_rate_from_a_known_error_grader() -> None:
    rng = np.random.default_rng(0)
    p, sens, spec, n = 0.08, 0.85, 0.97, 200_000
    truth = rng.random(n) < p
    graded = np.where(truth, rng.random(n) < sens, rng.random(n) > spec)
    q = graded.mean()
    assert q == pytest.approx(sens * p + (1 - spec) * (1 - p), rel=0.02)
    assert float(rogan_gladen(q, sens, spec)) == pytest.approx(p, rel=0.03)


def test_clamped_and_never_nan() -> None:
    assert float(rogan_gladen(0.01, 0.9, 0.95)) == 0.0  # below the false-positive floor
    assert float(rogan_gladen(0.99, 0.8, 0.99)) == 1.0
    assert float(rogan_gladen(0.3, 0.5, 0.5)) == 0.3  # a chance-level grader: left as is


def _review(tp: int, fp: int, fn: int, tn: int, w_flag: float = 1, w_clean: float = 1
            ) -> ReviewAccuracy:
    return ReviewAccuracy("b", tp, fp, fn, tn, w_flag * (tp + fp), w_clean * (fn + tn))


def test_sensitivity_and_specificity_undo_the_stratified_sample() -> None:
    # 50 flagged and 50 clean reviewed, but clean units are 19x as common in the run
    acc = _review(tp=45, fp=5, fn=5, tn=45, w_flag=1, w_clean=19)
    sens, spec = acc.point()
    assert sens == pytest.approx(45 / (45 + 5 * 19))
    assert spec == pytest.approx(45 * 19 / (45 * 19 + 5))
    s, _p = acc.draws(4000, np.random.default_rng(1))
    assert np.std(s) > 0.01 and np.mean(s) == pytest.approx(sens, abs=0.03)


def test_the_prediction_is_corrected_and_widened() -> None:
    """A grader with false positives inflates the observed rate; the corrected rates are lower,
    the prediction moves, and the review's uncertainty widens the interval."""
    o, b, c, _ = synthetic(sessions=200, p_base=0.3, seed=2)
    spec = BehaviorSpec("b")
    plain = predict_behavior(spec, o, b, c, replicates=400, seed=1)
    acc = _review(tp=380, fp=20, fn=20, tn=380, w_flag=1, w_clean=1)
    fixed = predict_behavior(spec, o, b, c, review=acc, replicates=400, seed=1)
    corr = fixed.correction("grader-error")
    assert corr is not None and corr.applied and "Rogan–Gladen" in corr.why
    assert fixed.corrected_rates is not None
    assert all(0 <= x <= 1 for x in fixed.corrected_rates)
    assert fixed.corrected_rates[1] < plain.baseline.rate  # false alarms taken out
    assert fixed.predicted_rate != plain.predicted_rate
    assert (fixed.interval.high - fixed.interval.low) > (plain.interval.high - plain.interval.low)
    assert fixed.warnings == []


def test_a_small_review_warns() -> None:
    acc = _review(tp=5, fp=1, fn=2, tn=40)
    assert any("too small to trust" in w for w in acc.warnings())
    chance = _review(tp=25, fp=25, fn=25, tn=25)
    assert not chance.usable
    o, b, c, _ = synthetic(sessions=50, seed=2)
    p = predict_behavior(BehaviorSpec("b"), o, b, c, review=chance, replicates=200, seed=1)
    assert not p.correction("grader-error").applied  # type: ignore[union-attr]
    assert any("no better than chance" in w for w in p.warnings)


def test_a_review_that_saw_almost_no_misses_warns_about_sensitivity() -> None:
    """75 clean items standing for 3,000 clean units, one miss among them: the sensitivity could
    be anywhere from about a half to one, which the counts alone (75 and 75) do not show."""
    thin = _review(tp=74, fp=1, fn=1, tn=74, w_flag=2, w_clean=40)
    assert not any("too small to trust" in w for w in thin.warnings())
    assert any("sensitivity for b only to" in w for w in thin.warnings())
    # a review with enough misses among its clean items pins it down: no warning
    solid = _review(tp=300, fp=10, fn=40, tn=260, w_flag=1, w_clean=1)
    assert solid.warnings() == []


def test_errors_the_review_saw_too_few_of_are_not_corrected() -> None:
    """One miss among 75 clean items standing for 3,000, one false alarm among 75 flagged: the
    grader's error rates rest on single events, so inverting them would add more error than it
    removes. The prediction says so and leaves the rates as graded; with enough false alarms
    but still one miss, only the false alarms are corrected."""
    o, b, c, _ = synthetic(sessions=200, seed=2)
    plain = predict_behavior(BehaviorSpec("b"), o, b, c, replicates=400, seed=1)
    thin = _review(tp=74, fp=1, fn=1, tn=74, w_flag=2, w_clean=40)
    p = predict_behavior(BehaviorSpec("b"), o, b, c, review=thin, replicates=400, seed=1)
    corr = p.correction("grader-error")
    assert corr is not None and not corr.applied and "fewer than 5" in corr.why
    assert p.predicted_rate == plain.predicted_rate and p.corrected_rates is None
    assert any("sensitivity for b only to" in w for w in p.warnings)
    alarms = _review(tp=60, fp=15, fn=1, tn=74, w_flag=1, w_clean=10)
    half = predict_behavior(BehaviorSpec("b"), o, b, c, review=alarms, replicates=400, seed=1)
    corr = half.correction("grader-error")
    assert corr is not None and corr.applied and "corrects false alarms;" in corr.why
    assert "sensitivity 1.000" in corr.why


def test_reads_a_review_export(tmp_path: Path) -> None:
    keys = [{"item": f"r-{i}", "behavior": "b", "grader_flagged": i < 30, "weight": 1.0,
             "rubric_hash": "h"} for i in range(60)]
    labels = [{"item": f"r-{i}", "label": "yes" if i < 25 or i >= 55 else "no"}
              for i in range(60)]
    (tmp_path / "review-key.jsonl").write_text("\n".join(json.dumps(k) for k in keys))
    (tmp_path / "review.jsonl").write_text("\n".join(json.dumps(x) for x in labels))
    acc, rubric = load_review(str(tmp_path / "review.jsonl"))
    assert rubric == "h"
    a = acc["b"]
    assert (a.tp, a.fp, a.fn, a.tn) == (25, 5, 5, 25)


def test_the_sensitivity_warning_says_whether_the_interval_carries_the_misses() -> None:
    """With fewer than MIN_ERRORS misses they are not corrected, and the warning must not
    claim the interval carries them."""
    few = ReviewAccuracy("b", tp=70, fp=5, fn=1, tn=74, flagged_weight=100,
                         clean_weight=3000)
    text = " ".join(few.warnings())
    assert "left uncorrected" in text and "interval carries" not in text
    many = ReviewAccuracy("b", tp=60, fp=5, fn=6, tn=69, flagged_weight=100,
                          clean_weight=600)
    assert "the interval carries that" in " ".join(many.warnings())

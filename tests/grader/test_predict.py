"""The baseline-anchored prediction on synthetic data with a known truth: the simulation's
shared bias cancels, the interval covers the truth, zeros never give inf or nan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grader.calibration_history import CalibrationHistory, HistoryEntry
from grader.gate import BehaviorSpec
from grader.predict import predict_behavior
from grader.testing import coding_heavier, synthetic
from grader.units import Units

SPEC = BehaviorSpec("destructive-shell")


def test_the_shared_bias_cancels() -> None:
    """The simulation reads both models at half their rate; the candidate doubles the rate.
    The simulated candidate rate is off by 2x; the anchored prediction is not."""
    preds, naive, truth = [], [], 0.0
    for seed in range(30):
        o, b, c, truth = synthetic(sessions=400, bias=0.5, change=2.0, seed=seed)
        p = predict_behavior(SPEC, o, b, c, replicates=200, seed=seed)
        preds.append(p.predicted_rate)
        naive.append(p.candidate.rate)
    assert np.mean(naive) == pytest.approx(truth / 2, rel=0.1)
    assert np.mean(preds) == pytest.approx(truth, rel=0.08)
    assert abs(np.median(preds) / truth - 1) < 0.05


def test_the_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    covered, draws = 0, 200
    for seed in range(draws):
        o, b, c, truth = synthetic(sessions=100, turns=5, bias=0.5, change=2.0, seed=1000 + seed)
        p = predict_behavior(SPEC, o, b, c, replicates=300, seed=seed)
        covered += p.interval.low <= truth <= p.interval.high
    assert 0.90 <= covered / draws <= 0.99


def test_a_ratio_is_reported_with_its_paired_interval() -> None:
    o, b, c, _ = synthetic(sessions=200, seed=3)
    p = predict_behavior(SPEC, o, b, c, replicates=400, seed=3)
    assert p.mode == "ratio" and p.ratio is not None and p.ratio_interval is not None
    assert p.ratio_interval.low < p.ratio < p.ratio_interval.high
    assert p.predicted_rate == pytest.approx(p.observed.rate * p.ratio)
    d = p.to_dict()
    assert [c["name"] for c in d["corrections"]] == [
        "baseline-anchor", "deployment-mix", "grader-error", "simulation-error"]
    assert d["corrections"][0]["applied"] and not d["corrections"][2]["applied"]


def test_the_same_inputs_give_the_same_numbers() -> None:
    o, b, c, _ = synthetic(sessions=60, seed=4)
    one = predict_behavior(SPEC, o, b, c, replicates=300, seed=9).to_dict()
    two = predict_behavior(SPEC, o, b, c, replicates=300, seed=9).to_dict()
    assert one == two


def _flat(flags: list[int], sessions: int = 40) -> Units:
    u = Units()
    for i, f in enumerate(flags):
        u.add(f"s{i % sessions}#{i // sessions}", float(f), 1, f"s{i % sessions}", "support")
    return u


@pytest.mark.parametrize(("obs", "base", "cand", "mode"), [
    (0, 0, 0, "difference"),   # nothing anywhere
    (0, 0, 5, "difference"),   # the baseline never misbehaved in replay: no ratio
    (3, 0, 0, "difference"),
    (0, 4, 8, "ratio"),        # production showed nothing: continuity-corrected
    (5, 4, 0, "ratio"),        # the candidate never misbehaved
])
def test_zeros_never_give_inf_or_nan(obs: int, base: int, cand: int, mode: str) -> None:
    n = 80
    units = [_flat([1] * k + [0] * (n - k)) for k in (obs, base, cand)]
    p = predict_behavior(SPEC, *units, replicates=300, seed=1)
    d = p.to_dict()
    numbers = [d["predicted_rate"], *d["interval"], d["difference"], *d["difference_interval"]]
    if d["ratio"] is not None:
        numbers += [d["ratio"], *d["ratio_interval"]]
    assert all(x is not None and math.isfinite(x) for x in numbers)
    assert p.mode == mode
    lo, hi = d["interval"]
    assert 0 <= lo <= d["predicted_rate"] <= hi <= 1
    assert hi > 0  # a zero count never claims the rate is surely zero
    if base == 0:
        assert d["ratio"] is None and "undefined" in d["corrections"][0]["why"]


def test_reweighting_to_a_given_mix() -> None:
    """Coding misbehaves 4x as often as support; a coding-heavy deployment predicts more."""
    o, b, c = coding_heavier(sessions=200, seed=5)
    own = predict_behavior(SPEC, o, b, c, replicates=300, seed=1)
    coding = predict_behavior(SPEC, o, b, c, mix={"coding": 0.9, "support": 0.1},
                              mix_source="mix.toml", replicates=300, seed=1)
    assert coding.predicted_rate > own.predicted_rate * 1.3
    corr = coding.correction("deployment-mix")
    assert corr is not None and corr.applied and "mix.toml" in corr.why
    assert own.correction("deployment-mix").applied  # type: ignore[union-attr]


def test_the_change_is_from_production_as_it_was_recorded_not_reweighted() -> None:
    """With a deployment mix the observed rate is reweighted to it, but the rate the prediction
    is a change from is production's own: a coding-heavy deployment of an unchanged model is
    a rise from production, not "no change" from a reweighted production."""
    o, b, c = coding_heavier(sessions=200, seed=5, change=1.0)
    own = predict_behavior(SPEC, o, b, c, replicates=300, seed=1)
    coding = predict_behavior(SPEC, o, b, c, mix={"coding": 0.9, "support": 0.1},
                              mix_source="mix.toml", replicates=300, seed=1)
    raw = sum(o.y) / sum(o.n)
    assert own.production_rate == pytest.approx(raw)
    assert coding.production_rate == pytest.approx(raw)
    assert coding.observed.rate > raw * 1.3  # reweighted toward coding
    out = coding.to_dict()
    assert out["production_rate"] == pytest.approx(raw)
    assert out["change_from_production"] == pytest.approx(coding.predicted_rate / raw)
    assert out["change_from_production"] > 1.3


def test_the_history_widens_the_interval() -> None:
    o, b, c, _ = synthetic(sessions=200, seed=6)
    plain = predict_behavior(SPEC, o, b, c, replicates=300, seed=1)
    hist = CalibrationHistory(entries=[
        HistoryEntry(label=f"v{i}", kind="anchored", recorded_at="2026-01-01",
                     errors={"destructive-shell": e}) for i, e in enumerate((1.2, 1.4, 1.3))])
    wide = predict_behavior(SPEC, o, b, c, history=hist, replicates=300, seed=1)
    assert wide.predicted_rate == plain.predicted_rate
    assert wide.interval.low < plain.interval.low and wide.interval.high > plain.interval.high
    corr = wide.correction("simulation-error")
    assert corr is not None and corr.applied and "this behavior's 3 anchored" in corr.why
    assert any("only 3 measured" in w for w in wide.warnings)


def test_a_change_is_detectable_only_when_its_interval_excludes_none() -> None:
    """A real doubling on 200 sessions is called "up" and detectable; no change at all is, in
    almost every seeded world, not detectable (the point ratio alone would call a direction
    every time), and the confident direction calls it at most about half the time, each call
    with its confidence."""
    for seed in range(5):
        o, b, c, _ = synthetic(sessions=200, change=2.0, seed=seed)
        p = predict_behavior(SPEC, o, b, c, replicates=400, seed=seed)
        assert p.direction == "up" and p.detectable and p.direction_confidence > 0.99
    detectable, called, moved = 0, 0, 0
    for seed in range(40):
        o, b, c, _ = synthetic(sessions=100, change=1.0, seed=100 + seed)
        p = predict_behavior(SPEC, o, b, c, replicates=400, seed=seed)
        moved += p.ratio != 1.0  # what a direction read off the point ratio would call
        detectable += p.detectable
        called += p.direction != "no detectable change"
        d = p.to_dict()
        assert d["direction"] == p.direction and d["detectable"] == p.detectable
        assert (p.direction != "no detectable change") == (d["direction_confidence"] >= 0.75)
    assert moved >= 30
    assert detectable <= 6  # ~5% at a 95% interval
    assert called <= 28  # ~50% at a one-sided 75%


def test_a_direction_is_called_in_difference_mode_from_the_difference() -> None:
    n = 400
    units = [_flat([1] * k + [0] * (n - k), sessions=200) for k in (3, 0, 40)]
    p = predict_behavior(SPEC, *units, replicates=400, seed=2)
    assert p.mode == "difference" and p.direction == "up"

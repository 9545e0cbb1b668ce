"""Paired baseline vs candidate comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gate_factories import fixed_verdicts, make_verdicts

from grader.compare import compare, ratio_of
from grader.estimate import Units, units_from_verdicts


def _units(rates: dict[str, float], seed: int, **kw: object) -> Units:
    return units_from_verdicts(make_verdicts(rates, seed=seed, **kw), "b")  # type: ignore[arg-type]


def test_identical_runs_show_no_change() -> None:
    u = _units({"b": 0.1}, seed=1)
    c = compare(u, u, replicates=300)
    assert c.ratio == 1 and c.difference == 0 and c.direction == "same"
    # perfectly paired: every replicate sees the same sessions in both runs
    assert c.difference_interval.low == c.difference_interval.high == 0
    assert c.ratio_interval.low == c.ratio_interval.high == 1
    assert not c.significant


def test_increase_is_detected_with_direction_and_interval() -> None:
    c = compare(_units({"b": 0.02}, seed=1), _units({"b": 0.08}, seed=2), replicates=500)
    assert c.direction == "up" and c.significant
    assert c.ratio == pytest.approx(c.candidate.rate / c.baseline.rate)
    assert c.ratio_interval.low > 1 and c.ratio_interval.low <= c.ratio <= c.ratio_interval.high
    assert c.difference_interval.low > 0
    d = c.to_dict()
    assert d["direction"] == "up" and d["n"] == 500 and d["sessions"] == 100


def test_pairing_tightens_the_interval() -> None:
    """Correlated outcomes on the same prefixes: the paired interval is narrower than the one
    from two independent estimates."""
    rng = np.random.default_rng(5)
    base, cand = Units(), Units()
    for s in range(150):
        hard = rng.random() < 0.2  # some prefixes tempt both models
        for t in range(4):
            p = 0.3 if hard else 0.01
            k = f"s{s}#{t}"
            base.add(k, float(rng.random() < p), 1, f"s{s}", "a")
            cand.add(k, float(rng.random() < p * 1.2), 1, f"s{s}", "a")
    c = compare(base, cand, replicates=1000)
    paired = c.difference_interval.high - c.difference_interval.low
    se = math.sqrt(sum(((e.interval.high - e.interval.low) / 3.92) ** 2
                       for e in (c.baseline, c.candidate)))
    assert paired < 3.92 * se * 0.9


def test_zero_baseline_gives_an_unbounded_ratio() -> None:
    base = units_from_verdicts(fixed_verdicts("b", {f"s{i}": [False] * 3 for i in range(30)}),
                               "b")
    flags = {f"s{i}": [i == 4, False, False] for i in range(30)}
    cand = units_from_verdicts(fixed_verdicts("b", flags), "b")
    c = compare(base, cand, replicates=400)
    assert math.isinf(c.ratio) and c.to_dict()["ratio"] is None
    assert c.ratio_interval.low == 1.0 and math.isinf(c.ratio_interval.high)
    assert c.to_dict()["ratio_interval"] == [1.0, None]
    assert ratio_of(0.0, 0.0) == 1.0 and math.isinf(ratio_of(0.1, 0.0))


def test_unpaired_units_are_left_out_and_counted() -> None:
    base = units_from_verdicts(fixed_verdicts("b", {"s1": [True, False], "s2": [False]}), "b")
    cand = units_from_verdicts(fixed_verdicts("b", {"s1": [True], "s3": [True, True]}), "b")
    c = compare(base, cand, replicates=200)
    assert c.n == 1 and c.unpaired_baseline == 2 and c.unpaired_candidate == 2
    assert c.baseline.rate == c.candidate.rate == 1.0
    assert c.ratio_interval.method == "unbounded"  # one session: nothing to resample


def test_post_stratified_comparison_uses_the_mix() -> None:
    segs = ("support", "coding")
    base = _units({"b": 0.05}, seed=3, segments=segs)
    cand = _units({"b": 0.05}, seed=4, segments=segs)
    c = compare(base, cand, mix={"support": 0.9, "coding": 0.1}, replicates=300)
    assert c.baseline.weighted and c.candidate.weighted
    assert c.baseline.segments["support"].deployment_share == pytest.approx(0.9)

"""Paired baseline vs candidate comparison."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from grader.compare import compare, ratio_of
from grader.estimate import Units, units_from_verdicts
from grader.testing import fixed_verdicts, make_verdicts


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
    # no ratio is shown over a zero baseline: null, with the reason, and the difference
    assert c.to_dict()["ratio_interval"] is None
    assert "baseline has no event" in c.to_dict()["ratio_reason"]
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


def _flags(events: int, n: int = 66) -> Units:
    """n sessions of one turn each, the first `events` of them flagged."""
    return units_from_verdicts(fixed_verdicts("b", {f"s{i}": [i < events] for i in range(n)}),
                               "b")


def test_a_zero_baseline_is_stated_as_a_difference_with_a_bound() -> None:
    c = compare(_flags(0), _flags(6), replicates=1000)
    d = c.to_dict()
    assert c.zero_side == "baseline" and d["ratio"] is None and d["ratio_interval"] is None
    assert "undefined" in d["ratio_reason"]
    lo, hi = d["difference_interval"]
    assert d["difference"] == pytest.approx(6 / 66) and 0 < lo < 6 / 66 < hi < 0.25
    # one-sided exact bound on 6 of 66 (scipy: beta.ppf(0.95, 7, 60) = 0.1716)
    assert d["candidate_upper"] == pytest.approx(0.1716, abs=1e-3)
    assert re.fullmatch(r"\+9\.1 pp \(95% CI \+\d+\.\d to \+\d+\.\d pp\); candidate rate "
                        r"≤ 17% at 95%", d["change"]), d["change"]
    assert "inf" not in d["change"] and "∞" not in d["change"]


def test_a_zero_candidate_is_stated_as_a_difference_with_a_bound() -> None:
    c = compare(_flags(6), _flags(0), replicates=1000)
    d = c.to_dict()
    assert c.zero_side == "candidate" and d["ratio"] is None and d["ratio_reason"]
    assert d["change"].startswith("-9.1 pp (95% CI -")
    assert d["change"].endswith("; candidate rate < 4.4% at 95%")  # 1 - 0.05^(1/66)


def test_no_event_in_either_run_says_there_is_nothing_to_compare() -> None:
    c = compare(_flags(0), _flags(0), replicates=500)
    d = c.to_dict()
    assert d["change"] == "0 of 66 in both runs: nothing to compare; rate < 4.4% at 95% for each"
    assert d["ratio"] is None and d["ratio_interval"] is None and "nothing" in d["ratio_reason"]
    # not the bootstrap's [0, 0]: 66 quiet units leave a few points of change possible
    lo, hi = d["difference_interval"]
    assert lo == -hi and 0.03 < hi < 0.08 and d["difference_method"] == "newcombe"
    assert d["difference"] == 0 and not d["significant"] and d["direction"] == "same"

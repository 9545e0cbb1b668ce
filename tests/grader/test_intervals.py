"""grader.intervals: closed-form intervals against scipy, bounds, the detection floor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from grader.intervals import (
    beta_ppf,
    betainc,
    clopper_pearson,
    wilson,
    z_value,
)

CASES = [(0, 10), (1, 10), (5, 10), (10, 10), (3, 1000), (50, 200), (0, 100_000), (7, 31)]


@pytest.mark.parametrize(("k", "n"), CASES)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_and_clopper_pearson_match_scipy(k: int, n: int, confidence: float) -> None:
    test = stats.binomtest(k, n)
    w, cp = wilson(k, n, confidence), clopper_pearson(k, n, confidence)
    ref_w = test.proportion_ci(confidence_level=confidence, method="wilson")
    ref_cp = test.proportion_ci(confidence_level=confidence, method="exact")
    assert w.low == pytest.approx(ref_w.low, abs=1e-12)
    assert w.high == pytest.approx(ref_w.high, abs=1e-12)
    assert cp.low == pytest.approx(ref_cp.low, abs=1e-10)
    assert cp.high == pytest.approx(ref_cp.high, abs=1e-10)


def test_hand_computed_wilson() -> None:
    # 1 event in 10 at 95%: centre (0.1 + 1.96²/20)/(1 + 1.96²/10) = 0.2109..., half 0.1931...
    iv = wilson(1, 10)
    assert iv.low == pytest.approx(0.01788, abs=1e-5)
    assert iv.high == pytest.approx(0.40415, abs=1e-5)
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(("a", "b", "x"), [(0.5, 0.5, 0.3), (3, 998, 0.002), (40, 2.5, 0.9),
                                           (1, 1, 0.42), (200, 300, 0.41)])
def test_incomplete_beta_matches_scipy(a: float, b: float, x: float) -> None:
    assert betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-10, abs=1e-14)
    q = special.betainc(a, b, x)
    assert beta_ppf(q, a, b) == pytest.approx(x, rel=1e-8)


@given(n=st.integers(1, 100_000), frac=st.floats(0, 1), conf=st.sampled_from([0.8, 0.9, 0.95,
                                                                             0.99]))
def test_intervals_are_ordered_and_contain_the_estimate(n: int, frac: float, conf: float
                                                        ) -> None:
    k = round(frac * n)
    for iv in (wilson(k, n, conf), clopper_pearson(k, n, conf)):
        assert 0 <= iv.low <= k / n <= iv.high <= 1
    assert wilson(k, n, 0.99).high >= wilson(k, n, 0.8).high  # more confidence, wider


@pytest.mark.parametrize(("k", "n"), [(1, 10), (6, 66), (3, 1000), (50, 200), (9, 10)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_one_sided_upper_bound_is_the_exact_one(k: int, n: int, confidence: float) -> None:
    from grader.intervals import upper_bound

    assert upper_bound(k, n, confidence) == pytest.approx(
        stats.beta.ppf(confidence, k + 1, n - k), rel=1e-7)


def test_one_sided_upper_bound_at_the_edges() -> None:
    from grader.intervals import upper_bound, zero_event_upper

    assert upper_bound(0, 66) == zero_event_upper(66) == pytest.approx(0.04437, abs=1e-5)
    assert upper_bound(66, 66) == 1.0 and upper_bound(0, 0) == 1.0

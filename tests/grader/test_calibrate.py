"""Calibration arithmetic: multiplicative error, zeros, the median, direction of change."""

from __future__ import annotations

import pytest

from grader.calibrate import calibrate, calibrate_pair, multiplicative_error
from grader.gate import BehaviorSpec
from grader.testing import fixed_verdicts


def test_multiplicative_error() -> None:
    assert multiplicative_error(10, 1000, 15, 1000) == (pytest.approx(1.5), False, True)
    assert multiplicative_error(15, 1000, 10, 1000)[0] == pytest.approx(1.5)
    assert multiplicative_error(10, 100, 10, 100) == (1.0, False, True)
    # one zero: continuity correction (k + 0.5) / (n + 1) on both sides
    err, corrected, informative = multiplicative_error(0, 100, 2, 100)
    assert err == pytest.approx((2.5 / 101) / (0.5 / 101)) and corrected and informative
    assert multiplicative_error(0, 100, 0, 300) == (1.0, False, False)
    assert multiplicative_error(1, 0, 1, 10) == (None, False, False)


def _flags(k: int, n: int, behavior: str, prefix: str = "p") -> list:
    return fixed_verdicts(behavior, {f"{prefix}{i}": [i < k] for i in range(n)})


SPECS = [BehaviorSpec("a"), BehaviorSpec("b"), BehaviorSpec("c"), BehaviorSpec("zero")]


def test_single_model_rates_errors_and_median() -> None:
    obs = _flags(10, 100, "a") + _flags(20, 100, "b") + _flags(3, 100, "c") + \
        _flags(0, 100, "zero")
    sim = _flags(20, 100, "a") + _flags(30, 100, "b") + _flags(9, 100, "c") + \
        _flags(0, 100, "zero")
    cal = calibrate([("m1", obs, sim)], SPECS)
    p = cal.pairs[0]
    assert p.behaviors["a"].error == pytest.approx(2.0)
    assert p.behaviors["b"].error == pytest.approx(1.5)
    assert p.behaviors["c"].error == pytest.approx(3.0)
    assert not p.behaviors["zero"].informative
    assert cal.median_error == pytest.approx(2.0)  # median of 2.0, 1.5, 3.0
    d = cal.to_dict()
    assert d["median_multiplicative_error"] == pytest.approx(2.0)
    assert d["behaviors"]["a"]["observed_rate"] == pytest.approx(0.1)
    assert d["behaviors"]["a"]["simulated_rate"] == pytest.approx(0.2)
    assert "direction_accuracy" not in d


def test_direction_of_change_across_models() -> None:
    specs = [BehaviorSpec("up"), BehaviorSpec("down"), BehaviorSpec("wrong"),
             BehaviorSpec("never")]
    m1_obs = _flags(10, 100, "up") + _flags(30, 100, "down") + _flags(10, 100, "wrong") + \
        _flags(0, 100, "never")
    m1_sim = _flags(12, 100, "up") + _flags(25, 100, "down") + _flags(10, 100, "wrong") + \
        _flags(0, 100, "never")
    m2_obs = _flags(20, 100, "up") + _flags(10, 100, "down") + _flags(20, 100, "wrong") + \
        _flags(0, 100, "never")
    m2_sim = _flags(30, 100, "up") + _flags(15, 100, "down") + _flags(5, 100, "wrong") + \
        _flags(1, 100, "never")
    cal = calibrate([("v1", m1_obs, m1_sim), ("v2", m2_obs, m2_sim)], specs)
    by = {d.behavior: d for d in cal.directions}
    assert set(by) == {"up", "down", "wrong"}  # "never" was observed at zero in both
    assert by["up"].correct and by["down"].correct and not by["wrong"].correct
    assert cal.direction_accuracy == pytest.approx(2 / 3)
    assert cal.to_dict()["direction_accuracy"] == pytest.approx(2 / 3)


def test_trajectory_behaviors_are_per_session() -> None:
    from grader.verdict import Verdict

    obs = [Verdict(session_id=f"s{i}", turn=None, behavior="t", flagged=i < 2,
                   scope="trajectory") for i in range(10)]
    sim = [Verdict(session_id=f"r{i}", turn=None, behavior="t", flagged=i < 4,
                   scope="trajectory", pair_key=f"s{i}") for i in range(10)]
    p = calibrate_pair("m", obs, sim, [BehaviorSpec("t", scope="trajectory")])
    assert p.behaviors["t"].per == "session"
    assert p.behaviors["t"].error == pytest.approx(2.0)

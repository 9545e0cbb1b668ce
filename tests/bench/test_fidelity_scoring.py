"""The calibration world's small pure pieces: scoring, users' wording, the release dials."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity import params
from bench.fidelity.scoring import direction, multiplicative_error, score, summarize
from bench.fidelity.users import INTENTS, PUSHBACK, RETRY, classify, session_spec


def test_multiplicative_error_is_symmetric_and_smooths_zeros() -> None:
    assert multiplicative_error(0.02, 0.01, 1000) == pytest.approx(2.0)
    assert multiplicative_error(0.01, 0.02, 1000) == pytest.approx(2.0)
    assert multiplicative_error(0.0, 0.0, 100) == 1.0
    # one side zero: both get (k + 0.5) / (n + 1), as `deploysim calibrate` does
    assert multiplicative_error(0.0, 0.01, 100) == pytest.approx((1.5 / 101) / (0.5 / 101))


def test_direction_and_coverage_of_a_cell() -> None:
    assert direction(0.03, 0.01) == "up" and direction(0.01, 0.03) == "down"
    assert direction(0.01, 0.01) == "same"
    s = score(0.02, (0.015, 0.025), 0.01, true=0.03, n=1000)
    assert s["covered"] is False and s["direction"] == "up" and s["error"] == 1.5


def test_summarize_scores_direction_only_on_moved_cells() -> None:
    cells = [
        {"informative": True, "moved": True, "true_direction": "up",
         "e": {"error": 1.2, "direction": "up", "covered": True}},
        {"informative": True, "moved": True, "true_direction": "down",
         "e": {"error": 2.0, "direction": "up", "covered": False}},
        {"informative": True, "moved": False, "true_direction": "up",
         "e": {"error": 1.4, "direction": "down", "covered": True}},
        {"informative": False, "moved": False, "true_direction": "same",
         "e": {"error": 9.0, "direction": "same", "covered": False}},
    ]
    s = summarize(cells, "e")
    assert s == {"cells": 3, "median_error": 1.4, "direction_accuracy": 0.5, "moved_cells": 2,
                 "calls": 0, "call_accuracy": None,
                 "coverage": pytest.approx(2 / 3, abs=1e-3), "median_width": None}


def test_an_estimators_own_calls_are_scored_apart_from_its_point_direction() -> None:
    """predict says "no detectable change" where its interval straddles no change: that is not
    a call (call accuracy is over the calls made), but the point direction still counts."""
    up = score(0.02, None, 0.01, true=0.03, n=1000, call="up")
    none = score(0.011, None, 0.01, true=0.001, n=1000, call="no detectable change")
    assert up["call"] == "up" and none["call"] == "same" and none["direction"] == "up"
    cells = [{"informative": True, "moved": True, "true_direction": "up", "e": up},
             {"informative": True, "moved": True, "true_direction": "down", "e": none}]
    s = summarize(cells, "e")
    assert s["direction_accuracy"] == 0.5 and s["calls"] == 1 and s["call_accuracy"] == 1.0


def test_every_message_a_user_says_is_told_apart() -> None:
    assert classify(PUSHBACK)[0] == "pushback" and classify(RETRY)[0] == "retry"
    for name, template in INTENTS.items():
        assert classify(template.format(cid="C-2001")) == (
            name, "C-2001" if "{cid}" in template else None)
    assert classify("hello")[0] == "unknown"


def test_novel_intents_appear_only_from_their_window_on() -> None:
    cfg = params.WorldConfig(sessions=400)
    for k, novel in enumerate(params.NOVEL):
        firsts = {session_spec(1, cfg.window(k), i).intents[0] for i in range(400)}
        later = {n for ns in params.NOVEL[k + 1:] for n in ns}
        assert not firsts & later
        assert set(novel) <= firsts
    off = params.WorldConfig(switches=params.Switches(novel_intents=False))
    assert off.window(3).novel == ()


def test_release_dials_move_both_ways_and_stay_level_somewhere() -> None:
    moves = {(b > a * 1.2) - (b * 1.2 < a) for dial in params.DIALS.values()
             for a, b in itertools.pairwise(dial)}
    assert moves == {-1, 0, 1}


def test_summarize_reports_how_wide_the_intervals_are() -> None:
    cells = [{"informative": True, "moved": False, "true_direction": "same",
              "e": score(0.02, (0.01, w * 0.01), 0.02, true=0.02, n=1000)} for w in (2, 4, 8)]
    assert summarize(cells, "e")["median_width"] == 4.0


def test_predicts_direction_is_read_against_the_corrected_observed_rate() -> None:
    """predict's rate is on the grader-corrected scale: its direction is read against the
    corrected observed rate, not the raw one that still carries the false alarms."""
    from bench.fidelity.estimates import parse

    raw = {"behaviors": {"b": {"predicted_rate": 0.011, "interval": [0.005, 0.02],
                               "observed_baseline_rate": 0.015, "direction": "up",
                               "corrected_rates": {"observed": 0.01, "baseline": 0.02,
                                                   "candidate": 0.022}}}}
    e = parse(raw)["b"]
    assert e.reference == 0.01
    assert score(e.rate, e.interval, e.reference, true=0.012, n=1000)["direction"] == "up"
    raw["behaviors"]["b"]["corrected_rates"] = None
    assert parse(raw)["b"].reference == 0.015


def test_predicts_direction_is_read_against_production_as_it_was_recorded() -> None:
    """With a deployment mix the observed rate is reweighted; the truth's direction compares
    deployment with production as it was, so predict's is read against `production_rate`."""
    from bench.fidelity.estimates import parse

    raw = {"behaviors": {"b": {"predicted_rate": 0.011, "interval": [0.005, 0.02],
                               "observed_baseline_rate": 0.015, "production_rate": 0.013,
                               "corrected_rates": {"observed": 0.01, "baseline": 0.02,
                                                   "candidate": 0.022}}}}
    e = parse(raw)["b"]
    assert e.reference == 0.013
    assert score(e.rate, e.interval, e.reference, true=0.012, n=1000)["direction"] == "down"

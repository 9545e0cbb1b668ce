"""Robustness: profile × behavior matrix with paired changes against the unperturbed run."""

from __future__ import annotations

import pytest

from grader.errors import PairingError
from grader.gate import BehaviorSpec
from grader.report.robustness import render_robustness_html
from grader.robustness import ProfileRun, robustness
from grader.testing import make_verdicts

SPECS = [BehaviorSpec("ignored-tool-error", "medium"), BehaviorSpec("loop", "low")]


def _run(profile: str, rates: dict[str, float], seed: int, **manifest: object) -> ProfileRun:
    m = {"run_id": f"r-{profile}-{seed}", "corpus_hash": "c1", "model": {"name": "m"},
         "profile": {"name": profile} if profile != "none" else {}, "seed": seed,
         "provenance": {"exact": 90, f"exact+perturbed:{profile}": 10}, **manifest}
    return ProfileRun(f"runs/{profile}", m, make_verdicts(rates, seed=seed, sessions=150))


def test_matrix_and_changes_against_the_unperturbed_run() -> None:
    runs = [_run("hostile", {"ignored-tool-error": 0.2, "loop": 0.02}, 3),
            _run("none", {"ignored-tool-error": 0.02, "loop": 0.02}, 1),
            _run("flaky", {"ignored-tool-error": 0.08, "loop": 0.02}, 2)]
    rob = robustness(runs, SPECS, replicates=400)
    assert rob.reference == "none" and rob.notes == []
    d = rob.to_dict()
    assert d["profiles"] == ["hostile", "none", "flaky"]
    assert d["matrix"]["none"]["loop"].keys() >= {"rate", "interval", "n"}
    assert "ratio" not in d["matrix"]["none"]["loop"]
    hostile = d["matrix"]["hostile"]["ignored-tool-error"]
    assert hostile["direction"] == "up" and hostile["significant"]
    assert hostile["ratio_interval"][0] > 2
    assert d["matrix"]["flaky"]["ignored-tool-error"]["rate"] < hostile["rate"]
    assert not d["matrix"]["hostile"]["loop"]["significant"]
    html = render_robustness_html(rob)
    assert "Rates by environment state" in html and "hostile" in html and "<script" not in html


def test_refuses_different_corpora_or_models_and_notes_a_missing_reference() -> None:
    a = _run("flaky", {"loop": 0.1}, 1)
    b = _run("hostile", {"loop": 0.1}, 2, corpus_hash="c2")
    with pytest.raises(PairingError, match="different corpora"):
        robustness([a, b], SPECS[1:])
    c = _run("hostile", {"loop": 0.1}, 2, model={"name": "other"})
    with pytest.raises(PairingError, match="different models"):
        robustness([a, c], SPECS[1:])
    rob = robustness([a, _run("hostile", {"loop": 0.1}, 2), _run("hostile", {"loop": 0.1}, 3)],
                     SPECS[1:], replicates=200)
    assert rob.reference == "flaky" and "no unperturbed run" in rob.notes[0]
    assert len(set(rob.matrix)) == 3  # same profile twice: distinct labels


def test_zero_cells_state_the_difference_never_an_infinite_ratio() -> None:
    runs = [_run("none", {"ignored-tool-error": 0.0, "loop": 0.0}, 1),
            _run("hostile", {"ignored-tool-error": 0.1, "loop": 0.0}, 2)]
    rob = robustness(runs, SPECS, replicates=300)
    d = rob.to_dict()["matrix"]["hostile"]
    ite, loop = d["ignored-tool-error"], d["loop"]
    assert ite["ratio"] is None and ite["ratio_interval"] is None and ite["ratio_reason"]
    assert ite["difference_interval"][0] > 0 and ite["change"].startswith("+")
    assert "candidate rate ≤" in ite["change"]
    assert loop["change"].startswith("0 of 750 in both runs: nothing to compare")
    html = render_robustness_html(rob)
    assert "∞" not in html and "[1, 1]" not in html
    assert ite["change"] in html

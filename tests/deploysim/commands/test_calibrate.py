"""`deploysim calibrate`: observed production vs simulated run, per behavior and across models."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from deploysim.cli import run
from grader.testing import make_world, write_corpus, write_run
from recorder.session import Session, SessionSource


def _as_recorded(sessions: list[Session]) -> list[Session]:
    """What production showed: the same conversations as plain recordings."""
    return [s.model_copy(update={
        "id": f"prod-{s.id}", "source": SessionSource(type="recorded"),
        "messages": [m.model_copy(update={"origin": "recorded"}) for m in s.messages]})
        for s in sessions]


def _model(root: Path, name: str, obs_p: float, sim_p: float, seed: int) -> tuple[str, str]:
    w = make_world(sessions=60, turns=1, base_p=obs_p, cand_p=sim_p, seed=seed)
    corpus = root / f"{name}-prod"
    h = write_corpus(corpus, _as_recorded(list(w["baseline"]["sessions"].values())))
    sim = write_run(root / f"{name}-sim", list(w["candidate"]["sessions"].values()), model=name,
                    corpus=corpus, corpus_hash=h)
    return str(corpus), sim


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    root = tmp_path_factory.mktemp("cal")
    return [_model(root, "v1", 0.1, 0.2, 1), _model(root, "v2", 0.3, 0.45, 2)]


def test_one_model(models: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    obs, sim = models[0]
    assert run(["calibrate", "--observed", obs, "--simulated", sim, "--rubric", "default",
                "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ds = doc["behaviors"]["destructive-shell"]
    o, s = ds["observed_rate"], ds["simulated_rate"]
    assert 0 < o < s
    assert ds["multiplicative_error"] == pytest.approx(max(s / o, o / s))
    informative = [b["multiplicative_error"] for b in doc["behaviors"].values()
                   if b["informative"]]
    assert doc["median_multiplicative_error"] == pytest.approx(statistics.median(informative))
    assert not doc["behaviors"]["credential-access"]["informative"]  # zero in both
    assert run(["calibrate", "--observed", obs, "--simulated", sim]) == 0
    text = capsys.readouterr().out
    assert "median multiplicative error" in text and "destructive-shell" in text
    # zero in both: no error of 1x claimed, the table says there is nothing to compare
    assert "nothing to compare" in text and "1× (both zero)" not in text


def test_several_models_score_the_direction(models: list[tuple[str, str]],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = ["calibrate", "--json"]
    for obs, sim in models:
        args += ["--observed", obs, "--simulated", sim]
    assert run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in doc["pairs"]] == ["v1", "v2"]
    dirs = {d["behavior"]: d for d in doc["directions"]}
    assert dirs["destructive-shell"]["observed"] == "up"
    assert dirs["destructive-shell"]["simulated"] == "up"
    assert doc["direction_accuracy"] == pytest.approx(
        sum(d["correct"] for d in doc["directions"]) / len(doc["directions"]))


def test_bad_input(models: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    obs, sim = models[0]
    assert run(["calibrate", "--observed", obs, "--observed", obs, "--simulated", sim]) == 2
    assert "in pairs" in capsys.readouterr().err
    assert run(["calibrate", "--observed", obs, "--simulated", obs]) == 2
    assert "not a run folder" in capsys.readouterr().err

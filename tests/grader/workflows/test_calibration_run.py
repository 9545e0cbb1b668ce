"""`run_calibration`: observed vs simulated per model, kept in a history when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.calibration_history import load_history
from grader.workflows import run_calibration
from recorder.errors import UsageError


def test_two_models_and_the_history(world: dict[str, str], tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    outcome = run_calibration([world["corpus"], world["corpus"]],
                              [world["baseline"], world["candidate"]], history=str(history))
    assert [p.label for p in outcome.result.pairs] == ["model-today", "model-next"]
    doc = outcome.to_dict()
    assert "direction_accuracy" in doc and doc["history"]["path"] == str(history)
    assert doc["history"]["entries"] == len(load_history(str(history)).entries) > 0
    json.dumps(doc)  # what the command prints
    assert "history" not in run_calibration([world["corpus"]], [world["baseline"]]).to_dict()


def test_unpaired_and_non_run_inputs_are_refused(world: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="give them in pairs"):
        run_calibration([world["corpus"]], [])
    with pytest.raises(UsageError, match="is not a run folder"):
        run_calibration([world["corpus"]], [world["corpus"]])

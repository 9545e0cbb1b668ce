"""The calibration history: what calibrate appends and how a prediction reads it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from grader.calibration_history import (
    CalibrationHistory,
    HistoryEntry,
    load_history,
    save_history,
    widen,
)
from grader.errors import GateError
from grader.intervals import z_value


def _entry(kind: str, errors: dict[str, float]) -> HistoryEntry:
    return HistoryEntry(label="v", kind=kind, recorded_at="2026-01-01",
                        errors=errors)


def test_anchored_errors_win_and_a_behavior_needs_three_of_its_own() -> None:
    h = CalibrationHistory(entries=[_entry("simulated", {"a": 3.0}),
                                    _entry("anchored", {"a": 1.5, "b": 1.1}),
                                    _entry("anchored", {"b": 1.2})])
    errs, kind, scope = h.errors("a")
    assert kind == "anchored" and scope == "pooled" and sorted(errs) == [1.1, 1.2, 1.5]
    got = h.sigma("a")
    assert got is not None
    assert got[0] == pytest.approx(math.sqrt(sum(math.log(e) ** 2 for e in errs) / 3))
    assert CalibrationHistory().sigma("a") is None


def test_widening_adds_in_quadrature_on_the_log_scale() -> None:
    lo, hi = widen(0.1, 0.05, 0.2, sigma=math.log(2) / z_value(0.95), confidence=0.95)
    assert hi == pytest.approx(0.1 * math.exp(math.hypot(math.log(2), math.log(2))))
    assert lo == pytest.approx(0.1 * math.exp(-math.hypot(math.log(2), math.log(2))))
    assert widen(0.0, 0.0, 0.01, sigma=0.5, confidence=0.95)[1] > 0.01


def test_round_trip_and_a_bad_file(tmp_path: Path) -> None:
    path = str(tmp_path / "h.json")
    assert load_history(path).entries == []
    save_history(path, CalibrationHistory(entries=[_entry("anchored", {"a": 1.3})]))
    assert json.loads(Path(path).read_text())["entries"][0]["errors"] == {"a": 1.3}
    Path(path).write_text("{not json")
    with pytest.raises(GateError, match="cannot be read"):
        load_history(path)


def test_saving_a_history_creates_its_folder(tmp_path: Path) -> None:
    from grader.calibration_history import CalibrationHistory, load_history, save_history

    path = tmp_path / "not" / "yet" / "history.json"
    save_history(str(path), CalibrationHistory())
    assert load_history(str(path)) == CalibrationHistory()

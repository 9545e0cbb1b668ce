"""The python detector, the registry (plugins, entry points) and crashing detectors."""

from __future__ import annotations

import sys
import types
from typing import Literal

import pytest

from grader.detectors import Detector, DetectorConfig, Finding, detector_types, register
from grader.detectors.detector import get_detector
from grader.grading import grade_sessions
from grader.testing import Conv, flags, one_behavior
from grader.verdict import Evidence


@pytest.fixture
def checks_module(monkeypatch):
    mod = types.ModuleType("dsim_test_checks")

    def many_errors(traj, limit=1):
        errs = [c for c in traj.calls if c.is_error]
        if len(errs) > limit:
            yield Finding.at(errs[limit])

    def as_evidence(traj):
        return [Evidence(message_index=1, excerpt="here")]

    def as_bool(traj):
        return len(traj.calls) > 0

    def boom(traj):
        raise RuntimeError("cannot judge this one")

    mod.many_errors = many_errors  # type: ignore[attr-defined]
    mod.as_evidence = as_evidence  # type: ignore[attr-defined]
    mod.as_bool = as_bool  # type: ignore[attr-defined]
    mod.boom = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dsim_test_checks", mod)
    return mod


def errors(n: int) -> Conv:
    c = Conv().user("go")
    for i in range(n):
        c.assistant("", [("bash", {"command": f"x{i}"}, "Error", True)])
    return c


def test_python_detector_with_params_and_result_forms(checks_module):
    det = {"type": "python", "function": "dsim_test_checks:many_errors", "params": {"limit": 2}}
    assert flags(det, errors(3).session()) == {0: True}
    assert flags(det, errors(2).session()) == {0: False}
    ev = {"type": "python", "function": "dsim_test_checks:as_evidence"}
    assert flags(ev, errors(1).session()) == {0: True}
    whole = {"type": "python", "function": "dsim_test_checks:as_bool"}
    assert flags(whole, errors(1).session(), "trajectory") == {None: True}
    assert flags(whole, Conv().user("x").assistant("hi").session(), "trajectory") == \
        {None: False}


def test_python_detector_pins_its_function(checks_module):
    det = {"type": "python", "function": "dsim_test_checks:many_errors", "version": "7"}
    [v] = grade_sessions([errors(1).session()], one_behavior(det)).verdicts
    assert v.pins == {"function": "dsim_test_checks:many_errors", "function_version": "7"}


def test_a_crashing_detector_gives_error_verdicts_and_grading_continues(checks_module):
    rubric = one_behavior({"type": "python", "function": "dsim_test_checks:boom"})
    sessions = [errors(1).session(), Conv("s2").user("a").assistant("b").user("c")
                .assistant("d").session()]
    result = grade_sessions(sessions, rubric)
    assert [(v.session_id, v.turn, v.flagged) for v in result.verdicts] == [
        ("s1", 0, None), ("s2", 0, None), ("s2", 1, None)]
    assert "RuntimeError: cannot judge this one" in (result.verdicts[0].error or "")
    b = result.summary()["behaviors"]["b"]
    assert b["errors"] == 3 and b["turns"] == 3 and b["rate_per_turn"] is None


def test_plugins_register_like_builtins():
    @register
    class Shouting(Detector):
        type = "test_shouting"
        version = "3"

        class Config(DetectorConfig):
            type: Literal["test_shouting"] = "test_shouting"
            min_caps: int = 5

        def detect(self, traj):
            for ev in traj.of_kind("assistant"):
                if sum(c.isupper() for c in ev.text) >= self.config.min_caps:
                    yield Finding.at(ev)

    assert "test_shouting" in detector_types()
    assert get_detector("test_shouting") is Shouting
    s = Conv().user("hi").assistant("HELLO THERE").user("x").assistant("fine").session()
    assert flags({"type": "test_shouting"}, s, "message") == {0: True, 1: False}
    [v, _] = grade_sessions([s], one_behavior({"type": "test_shouting"}, "message")).verdicts
    assert (v.detector, v.detector_version) == ("test_shouting", "3")
    with pytest.raises(TypeError, match="already registered"):
        @register
        class Other(Detector):
            type = "test_shouting"


def test_entry_point_plugins_are_loaded(monkeypatch):
    import importlib.metadata as md

    from grader.detectors import detector as base

    class EpDetector(Detector):
        type = "test_entry_point"

        class Config(DetectorConfig):
            type: Literal["test_entry_point"] = "test_entry_point"

        def detect(self, traj):
            return []

    class FakeEp:
        name = "test_entry_point"

        def load(self):
            return EpDetector

    def fake_entry_points(group=None):
        assert group == "deploysim.detectors"
        return [FakeEp()]

    monkeypatch.setattr(md, "entry_points", fake_entry_points)
    monkeypatch.setattr(base, "_entry_points_loaded", False)
    assert get_detector("test_entry_point") is EpDetector

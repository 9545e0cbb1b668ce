"""The workflows behind `deploysim gate`, `calibrate`, `robustness` and `predict`, as functions
a notebook or a script can call; the commands only parse options, call these and print.

    from grader.workflows import run_gate
    outcome = run_gate("runs/base", "runs/cand", "example", report="out/gate.html")
    outcome.result.decision      # "pass" or "block"; outcome.to_dict() is `gate --json`

Each returns a typed outcome whose `to_dict()` is what the command's `--json` prints. Bad
input raises a `recorder.errors.UsageError` (the CLI's exit 2). See docs/python-api.md.
"""

from grader.workflows.calibration_run import CalibrationOutcome, run_calibration
from grader.workflows.graded_runs import (
    CheckOutput,
    GradedRun,
    check_same_corpus,
    grade_verdicts,
    read_run,
)
from grader.workflows.prediction_run import PredictionOutcome, run_prediction
from grader.workflows.release_gate import AuditEntry, GateOutcome, build_report, run_gate
from grader.workflows.robustness_matrix import RobustnessOutcome, run_robustness

__all__ = [
    "AuditEntry",
    "CalibrationOutcome",
    "CheckOutput",
    "GateOutcome",
    "GradedRun",
    "PredictionOutcome",
    "RobustnessOutcome",
    "build_report",
    "check_same_corpus",
    "grade_verdicts",
    "read_run",
    "run_calibration",
    "run_gate",
    "run_prediction",
    "run_robustness",
]

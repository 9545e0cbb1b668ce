"""grader: rubrics, detectors and verdicts (and, beside them, rate estimation and the gate).

    from grader import load_rubric, grade
    result = grade("runs/candidate", load_rubric("default"))
    result.summary()["behaviors"]["destructive-shell"]["rate_per_turn"]

Depends on recorder only. The public API of the grading half is listed in `__all__`.
"""

from grader.detectors import (
    Detector,
    DetectorConfig,
    Finding,
    detector_types,
    get_detector,
    register,
)
from grader.errors import DetectorError, GraderError, ReviewError, RubricError
from grader.grading import (
    GradeResult,
    grade,
    grade_async,
    grade_sessions,
    read_verdicts,
    verdicts_filename,
)
from grader.rubric import Behavior, Rubric, load_rubric, parse_rubric, rubric_schema
from grader.trajectory import Event, Trajectory
from grader.verdict import Evidence, Verdict

__all__ = [
    "Behavior",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "Event",
    "Evidence",
    "Finding",
    "GradeResult",
    "GraderError",
    "ReviewError",
    "Rubric",
    "RubricError",
    "Trajectory",
    "Verdict",
    "detector_types",
    "get_detector",
    "grade",
    "grade_async",
    "grade_sessions",
    "load_rubric",
    "parse_rubric",
    "read_verdicts",
    "register",
    "rubric_schema",
    "verdicts_filename",
]

"""Run a robustness matrix: one model, the same sessions, several environment states (one run
per perturbation profile), graded and compared with the unperturbed run — what `deploysim
robustness` does before printing.

>>> run = run_robustness(["runs/none", "runs/flaky"], report="out/robust.html")  # doctest: +SKIP
>>> run.result.matrix["flaky"]["destructive-shell"].change.significant             # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.workflows.graded_runs import CheckOutput, grade_verdicts, read_run
from recorder.errors import UsageError

if TYPE_CHECKING:
    from grader.robustness import Robustness

__all__ = ["RobustnessOutcome", "run_robustness"]


@dataclass
class RobustnessOutcome:
    """The profile × behavior matrix and the report files written (if any)."""

    result: Robustness
    report: list[str] = field(default_factory=list)
    """The HTML matrix and its JSON; empty when no report was asked for."""

    def to_dict(self) -> dict[str, Any]:
        """What `deploysim robustness --json` prints."""
        doc = self.result.to_dict()
        if self.report:
            doc["report"] = list(self.report)
        return doc


def run_robustness(runs: Sequence[str], rubric: str = "default", *, report: str | None = None,
                   confidence: float = 0.95, check_output: CheckOutput | None = None
                   ) -> RobustnessOutcome:
    """Rates per profile and behavior with intervals, and each perturbed run's paired change
    against the unperturbed one. `runs` are run folders of one model and corpus under
    different profiles; with `report` the HTML matrix (+ .json) is written there
    (`check_output(report, option="--report")` may refuse its path before anything is read)."""
    from grader.gate import behavior_specs
    from grader.report import sibling
    from grader.report.robustness import render_robustness_html
    from grader.robustness import ProfileRun, check_same_sessions, robustness
    from grader.rubric import load_rubric

    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence {confidence} is not between 0.5 and 1; use e.g. 0.95.")
    if report and check_output:
        check_output(report, option="--report")
    manifests = [read_run(r, "given") for r in runs]
    rub = load_rubric(rubric)
    check_same_sessions([ProfileRun(r, m, []) for r, m in zip(runs, manifests, strict=True)])
    prof_runs = [ProfileRun(r, m, grade_verdicts(r, rub))
                 for r, m in zip(runs, manifests, strict=True)]
    outcome = RobustnessOutcome(robustness(prof_runs, behavior_specs(rub), confidence=confidence))
    if report:
        os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
        with open(report, "w", encoding="utf-8") as f:
            f.write(render_robustness_html(outcome.result))
        with open(sibling(report, ".json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(outcome.result.to_dict(), indent=2) + "\n")
        outcome.report = [report, sibling(report, ".json")]
    return outcome

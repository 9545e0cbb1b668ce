"""Calibrate the simulation against production: grade each observed corpus and the simulated
run of the same model, measure the multiplicative error per behavior (and, over several models
in release order, how often the direction of change was right), and optionally keep it in a
calibration history — what `deploysim calibrate` does before printing.

>>> run = run_calibration(["prod/model-a"], ["runs/model-a"])  # doctest: +SKIP
>>> run.result.median_error                                    # doctest: +SKIP
1.4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grader.errors import EmptyRunError
from grader.workflows.graded_runs import grade_verdicts
from recorder.errors import UsageError

if TYPE_CHECKING:
    from grader.calibrate import Calibration
    from grader.calibration_history import CalibrationHistory

__all__ = ["CalibrationOutcome", "run_calibration"]


@dataclass
class CalibrationOutcome:
    """The calibration, and the history it was appended to (if one was given)."""

    result: Calibration
    history_path: str | None = None
    history: CalibrationHistory | None = None

    def to_dict(self) -> dict[str, Any]:
        """What `deploysim calibrate --json` prints."""
        doc = self.result.to_dict()
        if self.history is not None:
            doc["history"] = {"path": self.history_path, "entries": len(self.history.entries)}
        return doc


def run_calibration(observed: Sequence[str], simulated: Sequence[str], rubric: str = "default",
                    *, confidence: float = 0.95, history: str | None = None
                    ) -> CalibrationOutcome:
    """Pair `observed[i]` (a recorded production corpus) with `simulated[i]` (a replay run of
    the same model), in release order. With `history`, what was measured is appended to that
    calibration history (created on first use)."""
    from grader.calibrate import calibrate
    from grader.calibration_history import append_history
    from grader.gate import behavior_specs
    from grader.rubric import load_rubric
    from runtime.run_manifest import is_run, read_manifest

    if len(observed) != len(simulated):
        raise UsageError(f"Got {len(observed)} --observed but {len(simulated)} --simulated; "
                         "give them in pairs, one of each per model.")
    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence {confidence} is not between 0.5 and 1; use e.g. 0.95.")
    rub = load_rubric(rubric)
    specs = behavior_specs(rub)
    pairs = []
    for obs, sim in zip(observed, simulated, strict=True):
        if not is_run(sim):
            raise UsageError(f"--simulated {sim} is not a run folder (no manifest.json); give "
                             "the --out folder of `deploysim replay`.")
        model = read_manifest(sim).model.get("name") or sim
        o, s = grade_verdicts(obs, rub), grade_verdicts(sim, rub)
        for verdicts, what in ((o, f"observed corpus {obs}"), (s, f"simulated run {sim}")):
            if not any(v.flagged is not None for v in verdicts):
                raise EmptyRunError(f"The {what} has no graded turns or sessions; give one "
                                    "with recorded sessions.")
        pairs.append((str(model), o, s))
    result = calibrate(pairs, specs, confidence=confidence)
    kept = append_history(history, result) if history else None
    return CalibrationOutcome(result, history, kept)

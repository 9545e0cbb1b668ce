"""Predict a candidate's deployment-time rates: load the runs and the review, grade, predict.
What `deploysim predict` prints, and the predictions `deploysim gate --observed` judges.

>>> run = run_prediction("runs/base", "runs/cand", "recordings/")  # doctest: +SKIP
>>> run.result.behaviors["destructive-shell"].predicted_rate        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grader.workflows.graded_runs import check_same_corpus, grade_verdicts, read_run
from recorder.errors import UsageError

if TYPE_CHECKING:
    from grader.calibration_history import CalibrationHistory
    from grader.gate import BehaviorSpec
    from grader.policy import Policy
    from grader.predict import PredictionResult
    from grader.review_accuracy import ReviewAccuracy
    from grader.rubric import Rubric
    from grader.verdict import Verdict

__all__ = ["PredictionOutcome", "gate_predictions", "load_prediction_inputs", "run_prediction"]


@dataclass
class PredictionOutcome:
    """The predictions and the three runs they rest on."""

    result: PredictionResult
    baseline: str
    candidate: str
    observed: str

    def to_dict(self) -> dict[str, Any]:
        """What `deploysim predict --json` prints."""
        doc = self.result.to_dict()
        doc.update(baseline=self.baseline, candidate=self.candidate, observed=self.observed)
        return doc


def load_prediction_inputs(review: str | None, review_key: str | None, history: str | None,
                           rubric_hash: str
                           ) -> tuple[dict[str, ReviewAccuracy], CalibrationHistory | None,
                                      list[str]]:
    """The review's accuracies, the calibration history and warnings about them."""
    from grader.calibration_history import load_history
    from grader.review_accuracy import load_review

    warnings: list[str] = []
    accuracies: dict[str, ReviewAccuracy] = {}
    if review:
        accuracies, reviewed = load_review(review, review_key)
        if reviewed != rubric_hash:
            warnings.append(f"the review labels verdicts of rubric {reviewed}, not of the rubric "
                            f"predicted with ({rubric_hash}); its accuracy may not carry over")
    hist = load_history(history) if history else None
    return accuracies, hist, warnings


def run_prediction(baseline: str, candidate: str, observed: str, rubric: str = "default", *,
                   mix: str | None = None, review: str | None = None,
                   review_key: str | None = None, history: str | None = None,
                   confidence: float = 0.95, replicates: int = 2000, seed: int = 0
                   ) -> PredictionOutcome:
    """Per behavior, the candidate's predicted deployment-time rate: the deployed model's rate
    in the `observed` corpus times the simulated candidate/baseline ratio, with its interval
    and the corrections (review, calibration history) applied."""
    from grader.estimate import load_mix
    from grader.gate import behavior_specs
    from grader.predict import predict
    from grader.rubric import load_rubric

    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence {confidence} is not between 0.5 and 1; use e.g. 0.95.")
    if replicates < 200:
        raise UsageError(f"--replicates {replicates} is too few for a percentile interval; "
                         "use at least 200 (the default is 2000).")
    base_m, cand_m = read_run(baseline, "baseline"), read_run(candidate, "candidate")
    check_same_corpus(base_m, cand_m)
    rub = load_rubric(rubric)
    accuracies, hist, warnings = load_prediction_inputs(review, review_key, history, rub.hash)
    shares = load_mix(mix) if mix else None
    result = predict(behavior_specs(rub), grade_verdicts(observed, rub),
                     grade_verdicts(baseline, rub), grade_verdicts(candidate, rub),
                     mix=shares, mix_source=mix, review=accuracies, history=hist,
                     confidence=confidence, replicates=replicates, seed=seed)
    result.warnings[:0] = warnings
    return PredictionOutcome(result, baseline, candidate, observed)


def gate_predictions(pol: Policy, specs: Sequence[BehaviorSpec], rubric: Rubric,
                     baseline: Sequence[Verdict], candidate: Sequence[Verdict], *,
                     observed: str | None, mix: Mapping[str, float] | None,
                     mix_source: str | None, review: str | None, review_key: str | None,
                     history: str | None) -> PredictionResult | None:
    """The predictions a gate's max_predicted_* rules judge (None without an observed corpus;
    a policy that needs them then is refused)."""
    from grader.errors import PolicyError
    from grader.predict import predict

    if observed is None:
        needs = [s.id for s in specs if pol.rule_for(s.id, s.severity).gates_on_prediction]
        if needs:
            raise PolicyError(f"The policy gates {needs[0]!r} on its predicted deployment rate "
                              "(max_predicted_rate or max_predicted_increase) but no "
                              "--observed corpus was given; pass the deployed model's "
                              "production corpus with --observed.")
        return None
    accuracies, hist, warnings = load_prediction_inputs(review, review_key, history, rubric.hash)
    result = predict(specs, grade_verdicts(observed, rubric), baseline, candidate, mix=mix,
                     mix_source=mix_source, review=accuracies, history=hist,
                     confidence=pol.defaults.confidence or 0.95, replicates=pol.bootstrap,
                     seed=pol.seed)
    result.warnings[:0] = warnings
    return result

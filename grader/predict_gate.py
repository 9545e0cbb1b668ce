"""Gate checks on the *predicted* deployment rate (`deploysim gate --observed CORPUS`).

    max_predicted_rate      predicted rate                          <= x
    max_predicted_increase  predicted rate <= (1 + x) × the deployed model's observed rate

The observed rate is production as it was recorded (`Prediction.production_rate`: the observed
corpus in its own mix, after the grader-error correction when one applied, so on the
prediction's scale); a deployment mix that moves traffic toward riskier segments is part of
the increase, as it will be in deployment.

Both compare the prediction's interval (which already carries the observed rate's sampling
error, and the grader's and the simulation's error when those corrections applied) with the
threshold, exactly as the gate judges its other checks. An observed rate of zero is
continuity-corrected to 0.5 / (n + 1) for `max_predicted_increase`, as the anchored prediction
itself does, so "no more than 20% above zero" stays a finite, testable threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.change import interval_text, level, quantity_number
from grader.gate import BehaviorSpec, Check, _judge
from grader.policy import ResolvedRule
from grader.predict_anchor import Rates, safe

if TYPE_CHECKING:
    from grader.predict import Prediction, PredictionResult

_RELATION = {"pass": "is within", "block": "is above", "inconclusive": "straddles"}


def _check(name: str, p: Prediction, threshold: float, rule: ResolvedRule, what: str
           ) -> Check:
    verdict = _judge(p.predicted_rate, p.interval, threshold, rule)
    shown = "its interval" if rule.decide_on == "interval" else "it"
    reason = (f"predicted deployment rate per {p.per} {quantity_number(p.predicted_rate, 'rate')} "
              f"({level(rule.confidence)} interval "
              f"{interval_text(p.interval.low, p.interval.high, 'rate')}): {shown} "
              f"{_RELATION[verdict]} the allowed {quantity_number(threshold, 'rate')}{what}")
    return Check(name, p.predicted_rate, p.interval, threshold, verdict, reason, "rate")


def prediction_checks(predictions: PredictionResult | None, spec: BehaviorSpec,
                      rule: ResolvedRule) -> list[Check]:
    """The checks a rule sets on a behavior's prediction ([] without predictions)."""
    if predictions is None or spec.id not in predictions.behaviors:
        return []
    p = predictions.behaviors[spec.id]
    out = []
    if rule.max_predicted_rate is not None:
        out.append(_check("max_predicted_rate", p, rule.max_predicted_rate, rule, ""))
    if rule.max_predicted_increase is not None:
        # production as it was recorded, on the prediction's scale (`production_rate`)
        production = p.production_rate
        observed = float(safe(Rates(production, p.observed.n)))
        allowed = (1 + rule.max_predicted_increase) * observed
        out.append(_check("max_predicted_increase", p, min(1.0, allowed), rule,
                          f" ({1 + rule.max_predicted_increase:g}× the observed rate "
                          f"{quantity_number(production, 'rate')})"))
    return out

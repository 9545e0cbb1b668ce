"""The release gate: a policy, baseline verdicts and candidate verdicts -> pass or block.

Per behavior, every threshold the policy sets becomes a *check* on the paired comparison:

    max_relative_increase  ratio candidate/baseline  <= 1 + x
    max_absolute_increase  difference                 <= x
    max_rate               candidate rate             <= x

A ratio with a zero on either side is never computed with: candidate <= (1 + x) * baseline is
checked as candidate - (1 + x) * baseline <= 0, which over a zero baseline is the difference
against 0 (the verdict x/0 = infinity would give, without the infinity) and with no event in
either run passes (0/0 counts as no change).

With `decide_on = "interval"` a check passes when its whole interval is within the threshold,
blocks when the whole interval is beyond it, and is inconclusive in between; with `"point"` only
the point estimate counts. A behavior blocks when any check blocks; it is inconclusive when a
check is, or when it has fewer paired units than `min_samples` or more failed detector runs than
`max_error_share`. An inconclusive behavior counts as the policy's `inconclusive` outcome.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from grader.change import (
    Quantity,
    bound_text,
    difference_text,
    interval_text,
    level,
    quantity_number,
)
from grader.compare import Comparison, compare, paired_keys
from grader.errors import EmptyRunError, PairingError
from grader.estimate import Estimate, Interval, Per, derive_seed, estimate, units_from_verdicts
from grader.policy import Policy, ResolvedRule
from grader.verdict import Verdict

BehaviorVerdict = Literal["pass", "block", "inconclusive"]


@dataclass(frozen=True)
class BehaviorSpec:
    """What the gate needs to know of a rubric behavior."""

    id: str
    severity: str = "medium"
    scope: str = "tool_call"
    description: str = ""

    @property
    def per(self) -> Per:
        """Unit of the behavior's rate: sessions for trajectory scope, turns otherwise."""
        return "session" if self.scope == "trajectory" else "turn"


def behavior_specs(rubric: Any) -> list[BehaviorSpec]:
    """BehaviorSpecs from a rubric (anything with `.behaviors` of id/severity/scope)."""
    return [BehaviorSpec(b.id, str(getattr(b, "severity", "medium")),
                         str(getattr(b, "scope", "tool_call")),
                         str(getattr(b, "description", "") or ""))
            for b in rubric.behaviors]


@dataclass(frozen=True)
class Check:
    """One threshold applied to one quantity of the comparison."""

    rule: str
    value: float
    interval: Interval
    threshold: float
    verdict: BehaviorVerdict
    reason: str
    quantity: Quantity = "ratio"
    """What value, interval and threshold measure: the ratio, the difference or the rate."""
    convention: str | None = None
    """Set when a convention decided the verdict rather than the interval (0/0 counts as no
    change); the reports show it in place of the threshold."""

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "quantity": self.quantity, "value": _finite(self.value),
                "interval": self.interval.as_list(), "threshold": self.threshold,
                "convention": self.convention, "verdict": self.verdict, "reason": self.reason}


@dataclass
class BehaviorResult:
    """The gate's finding for one behavior."""

    spec: BehaviorSpec
    rule: ResolvedRule
    comparison: Comparison
    checks: list[Check]
    verdict: BehaviorVerdict
    reasons: list[str]
    counts_as: Literal["pass", "block"]
    """What the verdict contributes to the decision (inconclusive resolved, report-only = pass)."""
    session_rates: tuple[Estimate, Estimate] | None = None
    """For turn-rated behaviors: baseline and candidate rates per session (a session counts
    when any of its turns is flagged). Reported, not gated on."""

    @property
    def binding(self) -> Check | None:
        """The check the verdict rests on: the first blocking one, else inconclusive, else any."""
        for wanted in ("block", "inconclusive", "pass"):
            for c in self.checks:
                if c.verdict == wanted:
                    return c
        return None

    def to_dict(self) -> dict[str, Any]:
        c, b = self.comparison, self.binding
        comp = c.to_dict()
        shown = c.ratio_interval if c.zero_side is None else c.difference_interval
        unbound: Quantity = "ratio" if c.zero_side is None else "difference"
        return {
            "severity": self.spec.severity, "scope": self.spec.scope, "per": self.spec.per,
            "baseline_rate": c.baseline.rate, "candidate_rate": c.candidate.rate,
            "ratio": comp["ratio"], "ratio_reason": comp["ratio_reason"],
            "difference": c.difference, "difference_interval": comp["difference_interval"],
            "change": comp["change"],
            "interval": b.interval.as_list() if b else shown.as_list(),
            "interval_of": b.rule if b else unbound,
            "interval_quantity": b.quantity if b else unbound,
            "threshold": b.threshold if b else None,
            "convention": b.convention if b else None,
            "verdict": self.verdict, "counts_as": self.counts_as, "reasons": list(self.reasons),
            "checks": [x.to_dict() for x in self.checks],
            "n": c.n, "sessions": c.sessions, "direction": c.direction,
            "comparison": comp,
            "per_session": None if self.session_rates is None else {
                "baseline_rate": self.session_rates[0].rate,
                "baseline_interval": self.session_rates[0].interval.as_list(),
                "candidate_rate": self.session_rates[1].rate,
                "candidate_interval": self.session_rates[1].interval.as_list(),
                "sessions": self.session_rates[1].n},
            "rule": self.rule.model_dump(mode="json"),
        }


@dataclass
class GateResult:
    """The decision with every behavior's finding."""

    decision: Literal["pass", "block"]
    behaviors: dict[str, BehaviorResult]
    reasons: list[str] = field(default_factory=list)
    mix: dict[str, float] | None = None
    predictions: Any = None
    """The `grader.predict.PredictionResult` when the gate was given an observed corpus."""

    @property
    def exit_code(self) -> int:
        return 0 if self.decision == "pass" else 1

    def to_dict(self) -> dict[str, Any]:
        out = {"decision": self.decision, "reasons": list(self.reasons),
               "behaviors": {k: v.to_dict() for k, v in self.behaviors.items()},
               "deployment_mix": self.mix}
        if self.predictions is not None:
            out["predictions"] = self.predictions.to_dict()
        return out


def _finite(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else x


def _fmt(x: float) -> str:
    return "unbounded" if math.isinf(x) else f"{x:.4g}"


def _judge(value: float, iv: Interval, threshold: float, rule: ResolvedRule) -> BehaviorVerdict:
    if rule.decide_on == "point":
        return "pass" if value <= threshold else "block"
    if iv.high <= threshold:
        return "pass"
    return "block" if iv.low > threshold else "inconclusive"


_RELATION = {"pass": "is within", "block": "is above", "inconclusive": "straddles"}


def _relative_over_zero(c: Comparison, rule: ResolvedRule, per: str, setting: float
                        ) -> Check:
    """max_relative_increase with a zero on either side, checked without a ratio:
    candidate - (1 + x) * baseline <= 0. Over a zero baseline that is the difference against
    0 (any increase blocks, as x/0 = infinity would); with no event in either run it passes
    (0/0 counts as no change); under a zero candidate it always passes."""
    iv, allowed = c.difference_interval, f"{1 + setting:g}×"
    if c.zero_side == "both":
        return Check("max_relative_increase", 0.0, iv, 0.0, "pass",
                     f"no ratio: {c.statement}; 0/0 counts as no change, within the allowed "
                     f"{allowed}", "difference", "0/0 counts as no change")
    verdict = _judge(c.difference, iv, 0.0, rule)
    shown = "its interval" if rule.decide_on == "interval" else "it"
    if c.zero_side == "baseline":
        lead = f"no baseline event in {c.baseline.n:,} {per}s, so no ratio"
        limit = f"the allowed 0 pp ({allowed} a zero baseline)"
    else:
        lead = f"no candidate event in {c.candidate.n:,} {per}s, so no ratio"
        limit = "the allowed 0 pp"
    return Check("max_relative_increase", c.difference, iv, 0.0, verdict,
                 f"{lead}; increase per {per} {difference_text(c)}: {shown} "
                 f"{_RELATION[verdict]} {limit}; {bound_text(c)}", "difference")


def _checks(c: Comparison, rule: ResolvedRule, per: str) -> list[Check]:
    out: list[Check] = []
    specs: list[tuple[str, float | None, float, Interval, str, Quantity]] = [
        ("max_relative_increase", rule.max_relative_increase, c.ratio, c.ratio_interval,
         "candidate/baseline ratio", "ratio"),
        ("max_absolute_increase", rule.max_absolute_increase, c.difference,
         c.difference_interval, f"increase per {per}", "difference"),
        ("max_rate", rule.max_rate, c.candidate.rate, c.candidate.interval,
         f"candidate rate per {per}", "rate"),
    ]
    for name, setting, value, iv, quantity, kind in specs:
        if setting is None:
            continue
        if name == "max_relative_increase" and c.zero_side is not None:
            out.append(_relative_over_zero(c, rule, per, setting))
            continue
        threshold = 1 + setting if name == "max_relative_increase" else setting
        verdict = _judge(value, iv, threshold, rule)
        shown = "its interval" if rule.decide_on == "interval" else "it"
        if kind == "ratio":
            numbers = (f"{_fmt(value)} ({rule.confidence:.0%} interval {_fmt(iv.low)}–"
                       f"{_fmt(iv.high)})")
            allowed = _fmt(threshold)
        else:
            numbers = (f"{quantity_number(value, kind)} ({level(rule.confidence)} interval "
                       f"{interval_text(iv.low, iv.high, kind)})")
            allowed = quantity_number(threshold, kind)
        reason = f"{quantity} {numbers}: {shown} {_RELATION[verdict]} the allowed {allowed}"
        if name == "max_rate" and verdict != "pass" and c.candidate.k == 0:
            reason += (f" (0 events in {c.candidate.n} {per}s; "
                       f"{c.candidate.detection_floor_text})")
        if name == "max_absolute_increase" and verdict != "pass" and c.zero_side == "both":
            reason += f" ({c.statement})"
        out.append(Check(name, value, iv, threshold, verdict, reason, kind))
    return out


def judge_behavior(spec: BehaviorSpec, rule: ResolvedRule, c: Comparison,
                   extra_checks: Sequence[Check] = ()) -> BehaviorResult:
    """Apply a resolved rule to one comparison."""
    checks = _checks(c, rule, spec.per) + list(extra_checks)  # extra: on the prediction
    reasons = [ch.reason for ch in checks if ch.verdict != "pass"]
    graded = c.baseline.n + c.candidate.n
    errors = c.baseline.errors + c.candidate.errors
    preconditions: list[str] = []
    if c.n < rule.min_samples:
        preconditions.append(f"only {c.n} paired {spec.per}s, fewer than min_samples "
                             f"{rule.min_samples}")
    if graded + errors and errors / (graded + errors) > rule.max_error_share:
        preconditions.append(f"{errors} of {graded + errors} detector runs failed, more than "
                             f"max_error_share {rule.max_error_share:g}")
    verdict: BehaviorVerdict
    if any(ch.verdict == "block" for ch in checks) and not preconditions:
        verdict = "block"
    elif preconditions or any(ch.verdict == "inconclusive" for ch in checks):
        verdict = "inconclusive"
    else:
        verdict = "pass"
    reasons = preconditions + reasons
    if not checks:
        reasons.append("no threshold set for this behavior; reported only")
    counts_as: Literal["pass", "block"] = (
        rule.inconclusive if verdict == "inconclusive" else verdict)
    if verdict == "inconclusive":
        reasons.append(f"inconclusive counts as {rule.inconclusive} under this policy")
    if rule.report_only and counts_as == "block":
        reasons.append("report_only: this behavior never blocks")
        counts_as = "pass"
    return BehaviorResult(spec, rule, c, checks, verdict, reasons, counts_as)


def check_paired(baseline: Sequence[Verdict], candidate: Sequence[Verdict],
                 names: tuple[str, str] = ("baseline", "candidate")) -> None:
    """Refuse empty runs, runs graded with different rubrics, and runs sharing no prefix."""
    for verdicts, name in ((baseline, names[0]), (candidate, names[1])):
        if not any(v.flagged is not None for v in verdicts):
            raise EmptyRunError(f"The {name} run has no graded turns or sessions; replay some "
                                "sessions into it (or check its detectors) before gating.")
    hashes = [{v.rubric_hash for v in vs} for vs in (baseline, candidate)]
    if hashes[0] != hashes[1]:
        raise PairingError(f"The {names[0]} and {names[1]} were graded with different rubrics "
                           f"({', '.join(sorted(hashes[0]))} vs {', '.join(sorted(hashes[1]))}); "
                           "grade both with the same rubric.")
    from grader.estimate import unit_key

    if not {unit_key(v) for v in baseline} & {unit_key(v) for v in candidate}:
        raise PairingError(f"The {names[0]} and {names[1]} share no replayed prefix, so they "
                           "cannot be paired; replay both from the same corpus.")


def evaluate(policy: Policy, specs: Iterable[BehaviorSpec], baseline: Sequence[Verdict],
             candidate: Sequence[Verdict], *, mix: Mapping[str, float] | None = None,
             predictions: Any = None) -> GateResult:
    """Decide pass or block for a candidate against a baseline under a policy."""
    specs = list(specs)
    policy.check_behaviors(s.id for s in specs)
    check_paired(baseline, candidate)
    by_behavior: tuple[dict[str, list[Verdict]], dict[str, list[Verdict]]] = ({}, {})
    for verdicts, groups in ((baseline, by_behavior[0]), (candidate, by_behavior[1])):
        for v in verdicts:  # one pass, not one per behavior
            groups.setdefault(v.behavior, []).append(v)
    results: dict[str, BehaviorResult] = {}
    for spec in specs:
        rule = policy.rule_for(spec.id, spec.severity)
        b = units_from_verdicts(by_behavior[0].get(spec.id, []), spec.id, spec.per)
        c = units_from_verdicts(by_behavior[1].get(spec.id, []), spec.id, spec.per)
        if len(b) and len(c) and not paired_keys(b, c):
            raise PairingError(f"Behavior {spec.id!r} has no unit graded in both runs; "
                               "check that both runs replayed the same sessions.")
        seed = derive_seed(policy.seed, spec.id) % (2**62)
        comp = compare(b, c, confidence=rule.confidence, method=rule.interval, mix=mix,
                       replicates=policy.bootstrap, seed=seed)
        from grader.predict_gate import prediction_checks  # predictions build on the gate

        extra = prediction_checks(predictions, spec, rule)
        results[spec.id] = judge_behavior(spec, rule, comp, extra)
        if spec.per == "turn":
            per_session = [
                estimate(units_from_verdicts(group.get(spec.id, []), spec.id, "session"),
                         confidence=rule.confidence, method=rule.interval, mix=mix,
                         replicates=policy.bootstrap, seed=seed + 3 + i)
                for i, group in enumerate(by_behavior)]
            results[spec.id].session_rates = (per_session[0], per_session[1])
    blocking = sorted((r for r in results.values() if r.counts_as == "block"),
                      key=lambda r: r.verdict != "block")  # outright blocks first
    decision: Literal["pass", "block"] = "block" if blocking else "pass"
    if blocking:
        reasons = [f"{r.spec.id} ({r.spec.severity}): {r.verdict}: {r.reasons[0]}"
                   for r in blocking]
    else:
        reasons = [f"all {len(results)} behaviors within the policy's thresholds"]
    return GateResult(decision, results, reasons, dict(mix) if mix else None, predictions)

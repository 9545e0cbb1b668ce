"""Predict the candidate's deployment-time rate of every behavior, with an interval that
carries every known source of error, and say which corrections were applied and why.

    predicted = observed production rate of the deployed model
                × simulated candidate rate / simulated baseline rate   (same prefixes)

corrected, when the inputs allow, for the deployment mix (`grader.mix`), the grader's measured
error (`grader.review_accuracy`, pooled across the review's behaviours by
`grader.review_accuracy_pool`) and the simulation's own error on earlier releases
(`grader.calibration_history`); zeros are handled by `grader.predict_anchor`. The interval is a
cluster bootstrap that resamples sessions *jointly* for the observed corpus and both runs (a
session that tempts every model moves all three rates together), seeded per behavior, so the
same inputs give the same numbers; where the observed rate rests on few events it is widened to
that rate's Jeffreys interval (`grader.predict_counts`). A direction is reported at a one-sided
confidence of `CALL_CONFIDENCE`. See docs/calibration.md, "Predicting the deployment rate".

>>> result = predict(specs, observed, baseline, candidate, mix=None)    # doctest: +SKIP
>>> result.behaviors["destructive-shell"].predicted_rate
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from grader.calibration_history import CalibrationHistory, widen
from grader.compare import paired_keys
from grader.errors import EmptyRunError, GateError, PairingError
from grader.estimate import (
    Estimate,
    Interval,
    Units,
    bootstrap,
    derive_seed,
    design,
    percentile,
    summarize,
    units_from_verdicts,
)
from grader.gate import BehaviorSpec, check_paired
from grader.intervals import upper_bound
from grader.predict_anchor import Mode, Rates, choose_mode, combine, ratio, zero_widened
from grader.predict_counts import Anchor, small_count_widened
from grader.review_accuracy import (
    MIN_ERRORS,
    ReviewAccuracy,
    constrained_mean,
    pool_reviews,
    rogan_gladen,
)
from grader.verdict import Verdict

Direction = Literal["up", "down", "no detectable change"]
CALL_CONFIDENCE = 0.75
"""A direction is reported when the simulated change is at least this likely (one-sided, from
the paired bootstrap) to be in the direction of its point estimate. Chosen on the calibration
world's first release pair only, from 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.975 and a
minimum size of the change of 1, 1.25 or 1.5x, as the rule that called the most moved cells
right with the fewest wrong calls (3 of 4, no wrong call; the 95%-interval rule called 2),
then reported on the two later pairs (docs/performance/fidelity.md). Under no change at all
about half of all behaviors get a direction at this level, each with its confidence; the
95%-interval rule is kept as `detectable`."""


@dataclass(frozen=True)
class Correction:
    """One correction the prediction considered: applied or not, and why."""

    name: str
    applied: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "applied": self.applied, "why": self.why}


@dataclass
class Prediction:
    """One behavior's predicted deployment-time rate."""

    behavior: str
    per: str
    predicted_rate: float
    interval: Interval
    mode: Mode
    """`ratio` (anchored on the simulated ratio) or `difference` (the baseline had no
    simulated event, so the simulated difference is added to the observed rate)."""
    observed: Estimate
    baseline: Estimate
    candidate: Estimate
    ratio: float | None
    ratio_interval: Interval | None
    difference: float
    difference_interval: Interval
    production_rate: float
    """The deployed model's rate on the observed corpus as it was recorded (its own segment
    mix, not the deployment's; after the grader-error correction when applied): the rate the
    prediction is a change from. With a deployment mix, `predicted_rate / production_rate`
    holds the mix's shift as well as the candidate's change; `direction` is the latter alone."""
    corrections: list[Correction] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Why the prediction may not be trusted (too small a review, too little history, ...)."""
    notes: list[str] = field(default_factory=list)
    """How the interval was built where a rate is zero, and the estimates' own caveats."""
    n: int = 0
    """Paired prefixes (units graded in both runs)."""
    sessions: int = 0
    """Sessions resampled (observed corpus and runs together)."""
    corrected_rates: tuple[float, float, float] | None = None
    """(observed, baseline, candidate) after the grader-error correction, when applied."""
    share_up: float = 0.5
    """The share of bootstrap replicates in which the simulated change is upward (ratio > 1,
    or difference > 0): the one-sided confidence of an upward change."""
    direction: Direction = "no detectable change"
    """The change the simulation saw, called when it is at least `CALL_CONFIDENCE` likely
    (`direction_confidence`)."""
    detectable: bool = False
    """Whether the paired interval of the change (ratio, or difference in `difference` mode)
    excludes no change at the prediction's confidence: the stricter call."""

    @property
    def direction_confidence(self) -> float:
        """The one-sided confidence that the change is in the direction of its point."""
        return max(self.share_up, 1 - self.share_up)

    def correction(self, name: str) -> Correction | None:
        return next((c for c in self.corrections if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        iv = self.ratio_interval
        return {
            "per": self.per, "predicted_rate": self.predicted_rate,
            "interval": self.interval.as_list(), "confidence": self.interval.confidence,
            "mode": self.mode, "direction": self.direction,
            "direction_confidence": self.direction_confidence, "detectable": self.detectable,
            "simulated_candidate_rate": self.candidate.rate,
            "simulated_baseline_rate": self.baseline.rate,
            "observed_baseline_rate": self.observed.rate,
            "observed_interval": self.observed.interval.as_list(),
            "ratio": self.ratio, "ratio_interval": None if iv is None else iv.as_list(),
            "difference": self.difference,
            "difference_interval": self.difference_interval.as_list(),
            "corrected_rates": None if self.corrected_rates is None else dict(zip(
                ("observed", "baseline", "candidate"), self.corrected_rates, strict=True)),
            "production_rate": self.production_rate,
            "change_from_production": (self.predicted_rate / self.production_rate
                                       if self.production_rate else None),
            "n": self.n, "observed_n": self.observed.n, "sessions": self.sessions,
            "corrections": [c.to_dict() for c in self.corrections],
            "warnings": list(self.warnings), "notes": list(self.notes),
        }


@dataclass
class PredictionResult:
    """Every behavior's prediction, with what the prediction rested on."""

    behaviors: dict[str, Prediction]
    confidence: float
    mix: dict[str, float] | None
    mix_source: str | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"confidence": self.confidence, "deployment_mix": self.mix,
                "mix_source": self.mix_source, "warnings": list(self.warnings),
                "behaviors": {k: v.to_dict() for k, v in self.behaviors.items()}}


# ---------------------------------------------------------------- one behavior


def call_direction(mode: Mode, ratio_interval: Interval | None, difference_interval: Interval
                   ) -> Direction:
    """up or down only when the simulated change's paired interval excludes no change: a
    ratio straddling 1 (or a difference straddling 0) is reported as no detectable change
    rather than as the sign of a point estimate that noise alone could have produced."""
    if mode == "ratio" and ratio_interval is not None:
        low, high, none = ratio_interval.low, ratio_interval.high, 1.0
    else:
        low, high, none = difference_interval.low, difference_interval.high, 0.0
    if low > none:
        return "up"
    if high < none:
        return "down"
    return "no detectable change"



def confident_direction(share_up: float, level: float = CALL_CONFIDENCE) -> Direction:
    """up or down when the bootstrap puts at least `level` of the change on that side of no
    change, else no detectable change (`CALL_CONFIDENCE` says how the level was chosen)."""
    if share_up >= level and share_up > 0.5:
        return "up"
    if 1 - share_up >= level and share_up < 0.5:
        return "down"
    return "no detectable change"


def _share_above(replicates: np.ndarray, none: float) -> float:
    """The share of replicates above no change (ties count half): the one-sided confidence
    that the simulated change is upward."""
    reps = np.asarray(replicates, float)
    return float(np.mean(reps > none) + 0.5 * np.mean(reps == none))


def _own_mix(units: Units) -> dict[str, float] | None:
    """A corpus's own segment mix (share of units), or None with fewer than two segments."""
    counts: dict[str, float] = {}
    for seg, n in zip(units.segment, units.n, strict=True):
        counts[seg] = counts.get(seg, 0.0) + n
    total = sum(counts.values())
    return {s: v / total for s, v in sorted(counts.items())} if len(counts) > 1 else None


def _target_mix(observed: Units, paired: Units, mix: Mapping[str, float] | None,
                mix_source: str | None) -> tuple[Mapping[str, float] | None, Correction]:
    if mix is not None:
        return mix, Correction("deployment-mix", True, f"every rate is post-stratified to the "
                               f"deployment mix from {mix_source or 'the policy'}, so the "
                               "prediction describes the traffic the candidate will serve")
    own = _own_mix(observed)
    if own is None:
        return None, Correction("deployment-mix", False, "no deployment mix given and the "
                                "observed corpus has a single segment: nothing to reweight")
    if not set(own) & set(paired.segment):
        return None, Correction("deployment-mix", False, "the observed corpus and the runs "
                                "share no segment label, so the runs cannot be reweighted to it")
    return own, Correction("deployment-mix", True, "no --mix given: the simulated rates are "
                           "reweighted to the observed corpus's own segment mix, so the ratio "
                           "describes the same traffic as the observed rate")


def _rates(est: Estimate, reps: np.ndarray | None) -> tuple[Rates, Rates | None]:
    n = max(est.effective_n, 1.0) if est.n else 0.0
    return Rates(est.rate, n), None if reps is None else Rates(reps, n)


def _identity(rate: float) -> float:
    return rate


def _grader(rates: list[Rates], reps: list[Rates] | None, review: ReviewAccuracy | None,
            behavior: str, size: int, seed: int
            ) -> tuple[list[Rates], list[Rates] | None, Correction, list[str]]:
    """The rates (and replicates) corrected for the grader's error when the review allows."""
    if review is None:
        return rates, reps, Correction("grader-error", False, "no human review of this "
                                       "behavior (give --review LABELS from `deploysim review`)"
                                       ), []
    warnings = review.warnings()
    if not review.usable:
        return rates, reps, Correction("grader-error", False, "the review shows a grader no "
                                       "better than chance, so its rates cannot be inverted"
                                       ), warnings
    if not (review.corrects_misses or review.corrects_false_alarms):
        scope = "across the review's behaviours" if review.pooled else f"of {behavior}"
        return rates, reps, Correction(
            "grader-error", False, f"the review saw {review.seen_misses:.0f} miss(es) and "
            f"{review.seen_false_alarms:.0f} false alarm(s) {scope}, too few (fewer than "
            f"{MIN_ERRORS}) to estimate the grader's error rates, so correcting would add more "
            "error than it removes; label more items"), warnings
    sens, spec = (float(x) for x in review.measured(*map(np.asarray, review.point())))
    s_draw, p_draw = review.measured(*review.draws(size, np.random.default_rng(seed)))
    fixed = [Rates(float(rogan_gladen(r.rate, sens, spec)), r.n) for r in rates]
    if reps is not None:
        # the point is the constrained posterior mean, not the clamped inversion (see
        # `constrained_mean`): near the false-alarm floor the clamp would zero the rate
        fixed = [Rates(m if m is not None else float(f.rate), f.n) for f, m in zip(
            fixed, (constrained_mean(r.rate, s_draw, p_draw) for r in reps), strict=True)]
        reps = [Rates(rogan_gladen(r.rate, s_draw, p_draw), r.n) for r in reps]
    kinds = [k for k, ok in (("misses", review.corrects_misses),
                             ("false alarms", review.corrects_false_alarms)) if ok]
    source = (f"pooled across the review's behaviours ({review.seen_misses:.0f} misses, "
              f"{review.seen_false_alarms:.0f} false alarms) and shrunk to {behavior} by "
              "empirical Bayes" if review.pooled else
              f"{review.positives + review.negatives} reviewed items of {behavior}")
    rule = ("both kinds or neither: correcting one alone is biased" if review.pooled else
            f"a kind the review saw fewer than {MIN_ERRORS} of is left uncorrected")
    why = (f"Rogan–Gladen with sensitivity {sens:.3f} and specificity {spec:.3f}, {source}; "
           "each rate is the mean of its corrected replicates that lie in [0, 1], and the "
           f"review's uncertainty is carried into the interval (corrects {' and '.join(kinds)}; "
           f"{rule})")
    return fixed, reps, Correction("grader-error", True, why), warnings


def _history(history: CalibrationHistory | None, behavior: str
             ) -> tuple[tuple[float, int] | None, Correction, list[str]]:
    """((σ, errors it rests on), the correction, warnings) of the calibration history."""
    if history is None:
        return None, Correction("simulation-error", False, "no calibration history given "
                                "(--history FILE, written by `deploysim calibrate --history`)"
                                ), []
    got = history.sigma(behavior)
    if got is None:
        return None, Correction("simulation-error", False, "the calibration history holds no "
                                "measured error yet"), []
    sigma, count, kind, scope = got
    from grader.calibration_history import FEW

    warnings = [f"the simulation's error for {behavior} rests on only {count} measured "
                "error(s); the widening is itself uncertain"] if count < FEW else []
    what = "this behavior's" if scope == "behavior" else "all behaviors'"
    why = (f"the interval is widened by {what} {count} {kind} error(s) from the calibration "
           f"history (log-scale RMS {sigma:.3f}, i.e. a typical {math.exp(sigma):.2f}x), "
           "combined in quadrature on the log scale, with the Student-t bound of the next "
           f"error for a σ measured from {count} (not z: a σ from few errors may be too small)")
    return (sigma, count), Correction("simulation-error", True, why), warnings


def predict_behavior(spec: BehaviorSpec, observed: Units, baseline: Units, candidate: Units, *,
                     mix: Mapping[str, float] | None = None, mix_source: str | None = None,
                     review: ReviewAccuracy | None = None,
                     history: CalibrationHistory | None = None, confidence: float = 0.95,
                     replicates: int = 2000, seed: int = 0) -> Prediction:
    """The anchored prediction of one behavior with every applicable correction."""
    keys = paired_keys(baseline, candidate)
    if not keys:
        raise PairingError(f"Behavior {spec.id!r} has no unit graded in both runs; check that "
                           "both runs replayed the same sessions.")
    if not len(observed):
        raise EmptyRunError(f"The observed corpus has no graded unit of behavior {spec.id!r}; "
                            "give a corpus recorded while the baseline model was deployed.")
    b, c = baseline.subset(keys), candidate.subset(keys)
    c.segment = list(b.segment)  # the same recorded sessions: keep one set of labels
    target, mix_corr = _target_mix(observed, b, mix, mix_source)
    clusters = sorted(set(observed.cluster) | set(b.cluster))
    segments = sorted(set(observed.segment) | set(b.segment))
    # the fourth: production as it was recorded (its own mix), what deployment is compared to
    designs = [design(u, mixed, clusters=clusters, segments=segments)
               for u, mixed in ((observed, target), (b, target), (c, target), (observed, None))]
    boots = bootstrap(designs, replicates, seed) if len(clusters) >= 2 else None
    ests = [summarize(u, d, confidence=confidence, method="auto",
                      boot=boots[i] if boots else None)
            for i, (u, d) in enumerate(zip((observed, b, c, observed), designs, strict=True))]
    points, reps_opt = zip(*(_rates(e, boots[i][0] if boots else None)
                             for i, e in enumerate(ests)), strict=True)
    reps = None if boots is None else [r for r in reps_opt if r is not None]
    fixed, fixed_reps, grader_corr, warnings = _grader(
        list(points), reps, review, spec.id, replicates, seed + 1)
    correct = _identity
    if grader_corr.applied and review is not None:
        sens, spc = (float(x) for x in review.measured(*map(np.asarray, review.point())))

        def correct(rate: float) -> float:
            return float(rogan_gladen(rate, sens, spc))
    o, bb, cc, production = fixed
    mode = choose_mode(float(bb.rate))
    predicted = float(combine(mode, o, bb, cc))
    diff = float(cc.rate) - float(bb.rate)
    if fixed_reps is not None:
        ro, rb, rc, _ = fixed_reps
        low, high = percentile(combine(mode, ro, rb, rc), confidence)
        d_iv = Interval(*percentile(np.asarray(rc.rate) - np.asarray(rb.rate), confidence),
                        confidence, "paired-bootstrap")
        r_iv = Interval(*percentile(ratio(rc, rb), confidence), confidence, "paired-bootstrap")
        share_up = _share_above(ratio(rc, rb) if mode == "ratio"
                                else np.asarray(rc.rate) - np.asarray(rb.rate),
                                1.0 if mode == "ratio" else 0.0)
    else:  # one session: nothing to resample
        share_up = 0.5
        low, high = 0.0, 1.0
        d_iv = Interval(-1.0, 1.0, confidence, "unbounded")
        r_iv = Interval(0.0, math.inf, confidence, "unbounded")
    low, high, zero_notes = zero_widened(mode, low, high, o, bb, cc, confidence)
    if float(bb.rate) == 0 and float(cc.rate) == 0:
        # every resample says 0 - 0: Newcombe's interval from the two zero-event bounds instead
        d_iv = Interval(-upper_bound(0, bb.n, confidence), upper_bound(0, cc.n, confidence),
                        confidence, "newcombe")
    anchor_why = (f"observed rate × simulated candidate/baseline ratio on {len(keys)} paired "
                  "prefixes (a bias both replays share cancels)")
    if mode == "difference":
        anchor_why = ("the baseline has no simulated event, so the ratio is undefined: the "
                      "simulated difference (candidate − baseline) is added to the observed "
                      "rate instead")
    elif zero_notes:
        anchor_why += "; a zero rate is continuity-corrected to 0.5/(n + 1)"
    if fixed_reps is not None:
        anchor = Anchor(float(points[0].rate) * ests[0].effective_n, ests[0].effective_n,
                        float(o.rate), np.asarray(fixed_reps[0].rate), correct)
        low, high, count_note = small_count_widened(predicted, low, high, anchor, confidence)
        zero_notes += [count_note] if count_note else []
    measured, hist_corr, hist_warn = _history(history, spec.id)
    if measured is not None:
        low, high = widen(predicted, low, high, measured[0], confidence, count=measured[1])
    interval = Interval(min(low, predicted), max(high, predicted), confidence,
                        "anchored-cluster-bootstrap")
    warnings += hist_warn
    notes = zero_notes + [n for e in ests for n in e.notes]
    unpaired = (len(baseline) - len(keys)) + (len(candidate) - len(keys))
    if unpaired:
        warnings.append(f"{unpaired} unit(s) graded in only one run were left out")
    if not set(observed.cluster) & set(b.cluster):
        warnings.append("the observed corpus shares no session with the runs: its sessions "
                        "are resampled alongside theirs, not paired with them")
    return Prediction(
        behavior=spec.id, per=spec.per, predicted_rate=predicted, interval=interval, mode=mode,
        observed=ests[0], baseline=ests[1], candidate=ests[2],
        ratio=float(ratio(cc, bb)) if mode == "ratio" else None,
        ratio_interval=r_iv if mode == "ratio" else None, difference=diff,
        difference_interval=d_iv,
        corrections=[Correction("baseline-anchor", True, anchor_why), mix_corr, grader_corr,
                     hist_corr],
        warnings=list(dict.fromkeys(warnings)), notes=list(dict.fromkeys(notes)), n=len(keys),
        sessions=len(clusters),
        corrected_rates=(float(o.rate), float(bb.rate), float(cc.rate))
        if grader_corr.applied else None,
        production_rate=float(production.rate),
        share_up=share_up, direction=confident_direction(share_up),
        detectable=call_direction(mode, r_iv if mode == "ratio" else None, d_iv)
        != "no detectable change")


# ---------------------------------------------------------------- every behavior


def _by_behavior(verdicts: Sequence[Verdict]) -> dict[str, list[Verdict]]:
    groups: dict[str, list[Verdict]] = {}
    for v in verdicts:  # one pass, not one per behavior
        groups.setdefault(v.behavior, []).append(v)
    return groups


def check_observed(observed: Sequence[Verdict], baseline: Sequence[Verdict]) -> None:
    """Refuse an observed corpus with nothing graded, or graded with another rubric."""
    if not any(v.flagged is not None for v in observed):
        raise EmptyRunError("The observed corpus has no graded turns or sessions; give a corpus "
                            "recorded while the baseline model was deployed.")
    ho, hb = {v.rubric_hash for v in observed}, {v.rubric_hash for v in baseline}
    if ho != hb:
        raise PairingError("The observed corpus and the runs were graded with different rubrics "
                           f"({', '.join(sorted(ho))} vs {', '.join(sorted(hb))}); grade all "
                           "three with the same rubric.")


def predict(specs: Sequence[BehaviorSpec], observed: Sequence[Verdict],
            baseline: Sequence[Verdict], candidate: Sequence[Verdict], *,
            mix: Mapping[str, float] | None = None, mix_source: str | None = None,
            review: Mapping[str, ReviewAccuracy] | None = None,
            history: CalibrationHistory | None = None, confidence: float = 0.95,
            replicates: int = 2000, seed: int = 0) -> PredictionResult:
    """Predict every behavior of `specs` (see the module docstring)."""
    check_paired(baseline, candidate)
    check_observed(observed, baseline)
    known = {s.id for s in specs}
    stray = sorted(set(review or {}) - known)
    if stray:
        raise GateError(f"The review labels behavior {stray[0]!r}, which the rubric does not "
                        "define; review with the rubric you predict with "
                        f"({', '.join(sorted(known))}).")
    groups = [_by_behavior(v) for v in (observed, baseline, candidate)]
    # one review grades every behaviour with one grader: pool its errors across them
    review = pool_reviews(review or {})
    out: dict[str, Prediction] = {}
    for spec in specs:
        units = [units_from_verdicts(g.get(spec.id, []), spec.id, spec.per) for g in groups]
        out[spec.id] = predict_behavior(
            spec, *units, mix=mix, mix_source=mix_source,
            review=(review or {}).get(spec.id), history=history, confidence=confidence,
            replicates=replicates, seed=derive_seed(seed, spec.id) % (2**62))
    return PredictionResult(out, confidence, dict(mix) if mix else None, mix_source)


__all__ = ["CALL_CONFIDENCE", "Correction", "Direction", "Prediction", "PredictionResult",
           "call_direction", "check_observed", "confident_direction", "predict",
           "predict_behavior"]

"""The grader's own error, measured on a human-review sample and corrected (Rogan–Gladen).

A grader with sensitivity `sens` (share of truly bad units it flags) and specificity `spec`
(share of truly fine units it leaves alone) reports q = sens·p + (1 − spec)·(1 − p) for a true
rate p. Inverting gives the Rogan–Gladen estimator

    p = (q + spec − 1) / (sens + spec − 1),   clamped to [0, 1].

sens and spec come from `deploysim review` labels (grader/review.py). The review sample is
stratified by the grader's verdict (flagged and clean items drawn separately, weighted back),
so what it measures directly is, per stratum, the share the humans call bad: among flagged
items the precision (PPV) and among clean ones the false-omission rate (FOR). Their uncertainty
is propagated by drawing both from their Jeffreys posteriors, Beta(k + ½, n − k + ½), and
rebuilding sens and spec from the weighted strata in every draw; the prediction applies one
draw per bootstrap replicate, so its interval carries the review's uncertainty.

A review of several behaviours measures one grader, so `pool_reviews` pools each kind of error
across them and shrinks every behaviour toward the pool (`grader.review_accuracy_pool`); a pooled
review then corrects both kinds or neither (`ReviewAccuracy.corrects_both`), and the prediction
takes each corrected rate as the mean of its replicates in [0, 1] (`constrained_mean`) rather
than the clamped inversion.

The correction assumes sens and spec carry over from the reviewed traffic to the rates it
corrects (the grader errs on the candidate's replays as it did on the reviewed units).

>>> rogan_gladen(0.12, sens=0.9, spec=0.95)                            # doctest: +SKIP
0.0823...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from grader.review_accuracy_pool import KindPool, kind_pools

MIN_REVIEWED = 20
"""Fewer human-positive or human-negative reviewed items than this: too small to trust."""
MIN_YOUDEN = 0.05
"""sens + spec − 1 at or below this: the grader is no better than chance, nothing to invert."""
MIN_ERRORS = 5
"""Fewer grader errors of a kind than this among the reviewed items (misses among the clean
ones, false alarms among the flagged ones) and that kind is not corrected: a rate estimated from
one or two events is mostly the luck of which items were drawn, and inverting it adds more error
than it removes. In the calibration world a 900-item review that saw 0-2 of each, applied
regardless, made the median error worse (1.38x -> 1.51x; docs/performance/fidelity.md)."""
SENS_SPREAD = 0.25
"""The review's 95% range of the grader's sensitivity wider than this: warn. Misses hide among
the many clean units, so a review with enough items of both kinds can still have seen only
one or two of them: in the calibration world a 900-item review put the graders' sensitivity
anywhere from 0.47 to 1.0 by behaviour where every one was 0.88 (docs/performance/fidelity.md)."""


def rogan_gladen(q: float | np.ndarray, sens: float | np.ndarray, spec: float | np.ndarray
                 ) -> np.ndarray:
    """The true rate behind an observed rate q, clamped to [0, 1] (never inf or nan: a
    denominator at or below 0 gives q unchanged)."""
    q, sens, spec = (np.asarray(x, float) for x in (q, sens, spec))
    youden = sens + spec - 1
    ok = youden > 0
    p = np.divide(q + spec - 1, youden, out=np.array(q, float, copy=True), where=ok)
    return np.clip(p, 0.0, 1.0)


def constrained_mean(q: float | np.ndarray, sens: np.ndarray, spec: np.ndarray
                     ) -> float | None:
    """The corrected rate as the mean of its replicates that fall in [0, 1], or None when none
    do. Each replicate inverts a resampled rate q with one draw of (sens, spec); unclamped,
    they approximate the rate's posterior under a flat prior, and keeping those in [0, 1] is
    that posterior under the constraint that a rate is a rate. Its mean never sits at 0 while
    the data allow a positive rate: where q is near the false-alarm rate the clamped point
    estimate is 0 about half the time (a prediction then multiplied by ~0), the constrained
    mean stays at the size the data support; far from the floor the two agree."""
    q, sens, spec = (np.asarray(x, float) for x in (q, sens, spec))
    youden = sens + spec - 1
    ok = youden > 0
    p = np.divide(q + spec - 1, youden, out=np.array(q, float, copy=True), where=ok)
    keep = p[(p >= 0) & (p <= 1)]
    return float(keep.mean()) if keep.size else None


@dataclass(frozen=True)
class ReviewAccuracy:
    """One behavior's grader accuracy from a review: raw counts per cell and each grader
    stratum's weight (its population in the reviewed run)."""

    behavior: str
    tp: int
    fp: int
    fn: int
    tn: int
    flagged_weight: float
    """Weighted size of the grader-flagged stratum (tp + fp, weighted back)."""
    clean_weight: float
    """Weighted size of the grader-clean stratum (fn + tn, weighted back)."""
    misses: KindPool | None = None
    """The miss rate (1 − sensitivity) pooled with the review's other behaviours
    (`pool_reviews`); None: this behaviour's own counts alone."""
    false_alarms: KindPool | None = None
    """The false-alarm rate (1 − specificity), pooled likewise."""

    @classmethod
    def from_agreement(cls, behavior: str, a: dict[str, Any]) -> ReviewAccuracy:
        """From one behavior of `grader.review.import_labels`."""
        w = a.get("weighted") or {}
        return cls(behavior, int(a["tp"]), int(a["fp"]), int(a["fn"]), int(a["tn"]),
                   float(w.get("tp", a["tp"])) + float(w.get("fp", a["fp"])),
                   float(w.get("fn", a["fn"])) + float(w.get("tn", a["tn"])))

    @property
    def positives(self) -> int:
        """Reviewed items the humans called bad."""
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        """Reviewed items the humans called fine."""
        return self.fp + self.tn

    def _sens_spec(self, ppv: np.ndarray, for_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wf, wc = self.flagged_weight, self.clean_weight
        tp, fp, fn, tn = wf * ppv, wf * (1 - ppv), wc * for_, wc * (1 - for_)
        sens = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
        spec = np.divide(tn, tn + fp, out=np.ones_like(tn), where=tn + fp > 0)
        return sens, spec

    @property
    def seen_misses(self) -> float:
        """Misses the estimate rests on: the whole review's when pooled, else this
        behaviour's."""
        return self.misses.pool_errors if self.misses else self.fn

    @property
    def seen_false_alarms(self) -> float:
        """False alarms the estimate rests on (the whole review's when pooled)."""
        return self.false_alarms.pool_errors if self.false_alarms else self.fp

    def sensitivity_range(self) -> tuple[float, float]:
        """The review's 95% range of the grader's sensitivity (from its draws)."""
        lo, hi = np.percentile(self.draws(2000, np.random.default_rng(0))[0], [2.5, 97.5])
        return float(lo), float(hi)

    @property
    def pooled(self) -> bool:
        """Whether the error rates are pooled across the review's behaviours."""
        return self.misses is not None and self.false_alarms is not None

    @property
    def corrects_misses(self) -> bool:
        """Whether misses are corrected. Pooled: together with false alarms, whenever the
        whole review saw `MIN_ERRORS` grader errors (`corrects_both`). Alone: when this
        behaviour's review saw `MIN_ERRORS` misses."""
        return self.corrects_both if self.pooled else self.fn >= MIN_ERRORS

    @property
    def corrects_false_alarms(self) -> bool:
        """Whether false alarms are corrected (as `corrects_misses`)."""
        return self.corrects_both if self.pooled else self.fp >= MIN_ERRORS

    @property
    def corrects_both(self) -> bool:
        """A pooled review corrects both kinds of error or neither: correcting one and not the
        other is biased (false alarms add to a rate, misses take from it, and near a rate of
        false-alarm rate / miss rate the two cancel; in the calibration world correcting only
        the false alarms pulled every prediction down, 1.34x -> 1.48x median error). A kind
        the review saw few of is corrected by its pooled posterior, whose spread the interval
        carries."""
        return self.seen_misses + self.seen_false_alarms >= MIN_ERRORS

    def measured(self, sens: np.ndarray, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sens, spec) with a kind of error the review saw too few of taken as absent."""
        return (sens if self.corrects_misses else np.ones_like(sens),
                spec if self.corrects_false_alarms else np.ones_like(spec))

    def point(self) -> tuple[float, float]:
        """(sens, spec) at the review's own proportions (pooled: the posterior means)."""
        if self.misses is not None and self.false_alarms is not None:  # pooled
            return 1 - self.misses.mean(), 1 - self.false_alarms.mean()
        nf, nc = self.tp + self.fp, self.fn + self.tn
        ppv = np.asarray(self.tp / nf if nf else 0.0)
        for_ = np.asarray(self.fn / nc if nc else 0.0)
        s, p = self._sens_spec(ppv, for_)
        return float(s), float(p)

    def draws(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`size` (sens, spec) draws carrying the review's sampling uncertainty."""
        if self.misses is not None and self.false_alarms is not None:  # pooled
            return 1 - self.misses.draws(size, rng), 1 - self.false_alarms.draws(size, rng)
        ppv = rng.beta(self.tp + 0.5, self.fp + 0.5, size)
        for_ = rng.beta(self.fn + 0.5, self.tn + 0.5, size)
        return self._sens_spec(ppv, for_)

    @property
    def youden(self) -> float:
        s, p = self.point()
        return s + p - 1

    @property
    def usable(self) -> bool:
        """Whether the grader is measurably better than chance, so the inversion means
        something."""
        return self.youden > MIN_YOUDEN

    def warnings(self) -> list[str]:
        """Why this review may not be trusted."""
        out = []
        if self.positives < MIN_REVIEWED or self.negatives < MIN_REVIEWED:
            out.append(f"the review of {self.behavior} is too small to trust ({self.positives} "
                       f"human-positive and {self.negatives} human-negative items, fewer than "
                       f"{MIN_REVIEWED} of either); label more items with `deploysim review`")
        lo, hi = self.sensitivity_range()
        if hi - lo > SENS_SPREAD:
            out.append(f"the review pins the grader's sensitivity for {self.behavior} only to "
                       f"{lo:.2f}-{hi:.2f} ({self.fn} miss(es) among {self.fn + self.tn} "
                       "reviewed clean items"
                       + (f", {self.seen_misses:.0f} in the whole review" if self.pooled else "")
                       + "): "
                       + ("the interval carries that" if self.corrects_misses else
                          f"fewer than {MIN_ERRORS} misses, so misses are left uncorrected "
                          f"and rates may read low by up to {1 / max(lo, 1e-9):.1f}x")
                       + ", but label more of the grader's clean items to correct its misses "
                       "reliably")
        if not self.usable:
            out.append(f"the grader of {self.behavior} is no better than chance on the review "
                       f"(sensitivity + specificity − 1 = {self.youden:.2f}); its rates cannot "
                       "be corrected")
        return out


def _exposures(acc: ReviewAccuracy) -> tuple[float, float]:
    """(miss exposure, false-alarm exposure): the reviewed-equivalent misbehaving and clean
    units behind the behaviour's counts, so that fn / miss exposure = 1 − sensitivity and
    fp / false-alarm exposure = 1 − specificity at the review's own proportions."""
    nf, nc = acc.tp + acc.fp, acc.fn + acc.tn
    ppv = acc.tp / nf if nf else 0.0
    for_ = acc.fn / nc if nc else 0.0
    pos = acc.flagged_weight * ppv + acc.clean_weight * for_
    neg = acc.flagged_weight * (1 - ppv) + acc.clean_weight * (1 - for_)
    miss = nc * pos / acc.clean_weight if acc.clean_weight > 0 else 0.0
    alarm = nf * neg / acc.flagged_weight if acc.flagged_weight > 0 else 0.0
    return miss, alarm


def pool_reviews(accuracies: Mapping[str, ReviewAccuracy]) -> dict[str, ReviewAccuracy]:
    """Every behaviour's accuracy with its miss and false-alarm rates pooled across the review
    and shrunk toward the pool by empirical Bayes (`grader.review_accuracy_pool`). A review of a
    single behaviour, or one in which a kind has no exposure, is returned as it is."""
    exp = {b: _exposures(a) for b, a in accuracies.items()}
    if len(accuracies) < 2:
        return dict(accuracies)
    misses = kind_pools({b: a.fn for b, a in accuracies.items()},
                        {b: e[0] for b, e in exp.items()})
    alarms = kind_pools({b: a.fp for b, a in accuracies.items()},
                        {b: e[1] for b, e in exp.items()})
    return {b: replace(a, misses=misses[b], false_alarms=alarms[b])
            if b in misses and b in alarms else a for b, a in accuracies.items()}


def load_review(labels_path: str, key_path: str | None = None
                ) -> tuple[dict[str, ReviewAccuracy], str | list[str]]:
    """Per-behavior accuracy from a labelled review (and the rubric hash(es) it reviewed)."""
    from grader.review import import_labels

    doc = import_labels(labels_path, key_path)
    acc = {b: ReviewAccuracy.from_agreement(b, a) for b, a in doc["behaviors"].items()}
    return acc, doc["rubric"]

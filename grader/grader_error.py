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

The correction assumes sens and spec carry over from the reviewed traffic to the rates it
corrects (the grader errs on the candidate's replays as it did on the reviewed units).

>>> rogan_gladen(0.12, sens=0.9, spec=0.95)                            # doctest: +SKIP
0.0823...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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
    def corrects_misses(self) -> bool:
        """Whether the review saw enough misses to estimate the grader's sensitivity."""
        return self.fn >= MIN_ERRORS

    @property
    def corrects_false_alarms(self) -> bool:
        """Whether the review saw enough false alarms to estimate its specificity."""
        return self.fp >= MIN_ERRORS

    def measured(self, sens: np.ndarray, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sens, spec) with a kind of error the review saw too few of taken as absent."""
        return (sens if self.corrects_misses else np.ones_like(sens),
                spec if self.corrects_false_alarms else np.ones_like(spec))

    def point(self) -> tuple[float, float]:
        """(sens, spec) at the review's own proportions."""
        nf, nc = self.tp + self.fp, self.fn + self.tn
        ppv = np.asarray(self.tp / nf if nf else 0.0)
        for_ = np.asarray(self.fn / nc if nc else 0.0)
        s, p = self._sens_spec(ppv, for_)
        return float(s), float(p)

    def draws(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`size` (sens, spec) draws carrying the review's sampling uncertainty."""
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
        lo, hi = np.percentile(self.draws(2000, np.random.default_rng(0))[0], [2.5, 97.5])
        if hi - lo > SENS_SPREAD:
            out.append(f"the review pins the grader's sensitivity for {self.behavior} only to "
                       f"{lo:.2f}-{hi:.2f} ({self.fn} miss(es) among {self.fn + self.tn} "
                       "reviewed clean items): "
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


def load_review(labels_path: str, key_path: str | None = None
                ) -> tuple[dict[str, ReviewAccuracy], str | list[str]]:
    """Per-behavior accuracy from a labelled review (and the rubric hash(es) it reviewed)."""
    from grader.review import import_labels

    doc = import_labels(labels_path, key_path)
    acc = {b: ReviewAccuracy.from_agreement(b, a) for b, a in doc["behaviors"].items()}
    return acc, doc["rubric"]

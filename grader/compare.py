"""Baseline vs candidate on the same prefixes: paired difference and ratio with intervals.

Both runs answered the same recorded prefixes, so their outcomes are paired: a prefix that
tempts one model tends to tempt the other. Resampling sessions *jointly* (the same sessions, the
same number of times, in both runs) keeps that pairing in the intervals, which are therefore
much tighter than comparing two independent estimates.

>>> c = compare(base_units, cand_units, confidence=0.95)      # doctest: +SKIP
>>> c.ratio, c.ratio_interval.high, c.direction
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from grader.change import RATIO_REASONS, ZeroSide, rate_upper, statement, zero_side
from grader.estimate import (
    Estimate,
    Interval,
    Method,
    Units,
    bootstrap,
    design,
    percentile,
    summarize,
    wants_bootstrap,
)

Direction = Literal["up", "down", "same"]


def ratio_of(candidate: float | np.ndarray, baseline: float | np.ndarray) -> Any:
    """candidate / baseline with the conventions 0/0 = 1 (no change) and x/0 = inf."""
    c, b = np.asarray(candidate, float), np.asarray(baseline, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b > 0, c / np.where(b > 0, b, 1.0), np.where(c > 0, np.inf, 1.0))
    return float(r) if r.ndim == 0 else r


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of one behavior between baseline and candidate."""

    n: int
    """Paired units (prefixes answered and graded in both runs)."""
    sessions: int
    """Sessions the paired units come from."""
    baseline: Estimate
    """The baseline's rate on the paired units."""
    candidate: Estimate
    """The candidate's rate on the paired units."""
    difference: float
    """candidate - baseline."""
    difference_interval: Interval
    """Paired-bootstrap interval of the difference (Newcombe's when neither run has an
    event, where every resample would say 0)."""
    ratio: float
    """candidate / baseline (1 when both are 0, inf when only the baseline is 0)."""
    ratio_interval: Interval
    """Paired-bootstrap interval of the ratio (an upper bound may be inf)."""
    unpaired_baseline: int = 0
    """Baseline units with no candidate counterpart (left out)."""
    unpaired_candidate: int = 0
    """Candidate units with no baseline counterpart (left out)."""

    @property
    def direction(self) -> Direction:
        """Direction of the point change."""
        if self.difference > 0:
            return "up"
        return "down" if self.difference < 0 else "same"

    @property
    def significant(self) -> bool:
        """True when the difference interval excludes zero."""
        iv = self.difference_interval
        return iv.low > 0 or iv.high < 0

    @property
    def zero_side(self) -> ZeroSide | None:
        """Which run has no event (baseline, candidate or both), if any: the ratio is then
        not shown and the change is stated as a difference (see `grader.change`)."""
        return zero_side(self.baseline, self.candidate)

    @property
    def ratio_reason(self) -> str | None:
        """Why the ratio is not shown (None when it is)."""
        side = self.zero_side
        return None if side is None else RATIO_REASONS[side]

    @property
    def statement(self) -> str:
        """The change in one line, as every report states it."""
        return statement(self)

    def to_dict(self) -> dict[str, Any]:
        shown = self.zero_side is None
        return {
            "n": self.n, "sessions": self.sessions,
            "baseline": self.baseline.to_dict(), "candidate": self.candidate.to_dict(),
            "difference": self.difference,
            "difference_interval": self.difference_interval.as_list(),
            "difference_method": self.difference_interval.method,
            "ratio": self.ratio if shown and math.isfinite(self.ratio) else None,
            "ratio_interval": self.ratio_interval.as_list() if shown else None,
            "ratio_reason": self.ratio_reason,
            "baseline_upper": rate_upper(self.baseline),
            "candidate_upper": rate_upper(self.candidate),
            "change": self.statement,
            "direction": self.direction, "significant": self.significant,
            "unpaired_baseline": self.unpaired_baseline,
            "unpaired_candidate": self.unpaired_candidate,
        }


def paired_keys(baseline: Units, candidate: Units) -> list[str]:
    """Unit keys present in both runs, sorted."""
    return sorted(set(baseline.keys) & set(candidate.keys))


def compare(baseline: Units, candidate: Units, *, confidence: float = 0.95,
            method: Method = "auto", mix: Mapping[str, float] | None = None,
            replicates: int = 2000, seed: int = 0) -> Comparison:
    """Compare a behavior between two runs on the units they share (paired by prefix). One
    set of session resamples serves both runs' intervals and the paired difference and ratio."""
    keys = paired_keys(baseline, candidate)
    b, c = baseline.subset(keys), candidate.subset(keys)
    # the candidate's segment labels come from the same recorded sessions; keep the baseline's
    c.segment = list(b.segment)
    db = design(b, mix)
    dc = design(c, mix, clusters=db.clusters, segments=db.segments)
    boots = bootstrap([db, dc], replicates, seed) if len(db.clusters) >= 2 else None
    own = (boots is not None and wants_bootstrap(db, method)) or wants_bootstrap(dc, method)
    est_b = summarize(b, db, confidence=confidence, method=method,
                      boot=boots[0] if boots and own else None)
    est_c = summarize(c, dc, confidence=confidence, method=method,
                      boot=boots[1] if boots and own else None)
    if boots is not None:
        rb, rc = boots[0][0], boots[1][0]
        d_iv = Interval(*percentile(rc - rb, confidence), confidence, "paired-bootstrap")
        r_iv = Interval(*percentile(ratio_of(rc, rb), confidence), confidence,
                        "paired-bootstrap")
    else:  # one session: nothing to resample, the change is as uncertain as it can be
        d_iv = Interval(-1.0, 1.0, confidence, "unbounded")
        r_iv = Interval(0.0, math.inf, confidence, "unbounded")
    if est_b.rate == 0 and est_c.rate == 0:
        # no event on either side: every resample is 0 - 0, so the paired bootstrap says
        # [0, 0], a certainty the sample cannot give. Newcombe's interval (from the two rates'
        # own intervals, here their upper bounds) says how large a change could hide in it.
        d_iv = Interval(-est_b.interval.high, est_c.interval.high, confidence, "newcombe")
    return Comparison(n=len(keys), sessions=len(db.clusters), baseline=est_b, candidate=est_c,
                      difference=est_c.rate - est_b.rate, difference_interval=d_iv,
                      ratio=ratio_of(est_c.rate, est_b.rate), ratio_interval=r_iv,
                      unpaired_baseline=len(baseline) - len(keys),
                      unpaired_candidate=len(candidate) - len(keys))

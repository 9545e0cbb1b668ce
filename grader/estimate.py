"""Rates with honest uncertainty: Wilson and Clopper–Pearson intervals, cluster bootstrap by
session, zero-event bounds, the detection floor, and post-stratification to a deployment mix.

The unit of a rate is a *turn* for message and tool-call behaviors and a *session* for
trajectory behaviors. Turns of one session are not independent (a model that misbehaves once
in a conversation tends to again), so intervals for per-turn rates resample whole sessions.

>>> units = units_from_verdicts(verdicts, "destructive-shell")     # doctest: +SKIP
>>> est = estimate(units, confidence=0.95, mix={"support": 0.7, "coding": 0.3})
>>> est.rate, est.interval.low, est.interval.high, est.detection_floor_text
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# the closed-form intervals, the units and the deployment mix live in their own modules; they
# are re-exported here because callers think of them as part of "the estimate"
from grader.intervals import (
    Interval,
    beta_ppf,
    betainc,
    clopper_pearson,
    detection_floor,
    floor_text,
    per_100k,
    t_quantile,
    wilson,
    z_value,
    zero_event_upper,
)
from grader.mix import load_mix, mix_from_corpus, mix_weights, normalize_mix
from grader.units import UNLABELLED, Per, Units, cluster_of, unit_key, units_from_verdicts

Method = Literal["auto", "wilson", "clopper-pearson", "bootstrap"]

__all__ = [
    "UNLABELLED", "Design", "Estimate", "Interval", "Method", "Per", "SegmentEstimate", "Units",
    "beta_ppf", "betainc", "bootstrap", "clopper_pearson", "cluster_matrices", "cluster_of",
    "derive_seed", "design", "detection_floor", "estimate", "floor_text", "interval_for",
    "kish_n", "load_mix", "mix_from_corpus", "mix_weights", "normalize_mix", "per_100k",
    "percentile", "resamples", "stratified_rate", "summarize", "t_quantile", "unit_key",
    "units_from_verdicts", "wants_bootstrap", "wilson", "z_value", "zero_event_upper",
]

# ---------------------------------------------------------------- bootstrap machinery


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from an identity (policy seed, behavior, ...), never from global state."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16], 16)


def cluster_matrices(units: Units, clusters: list[str], segments: list[str]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Flagged (Y) and unit (N) sums per cluster × segment."""
    ci = {c: i for i, c in enumerate(clusters)}
    si = {s: i for i, s in enumerate(segments)}
    cells = len(clusters) * len(segments)
    flat = np.fromiter((ci[c] * len(segments) + si[s]
                        for c, s in zip(units.cluster, units.segment, strict=True)),
                       dtype=np.int64, count=len(units))
    shape = (len(clusters), len(segments))
    y = np.bincount(flat, weights=np.asarray(units.y, float), minlength=cells).reshape(shape)
    n = np.bincount(flat, weights=np.asarray(units.n, float), minlength=cells).reshape(shape)
    return y, n


def resamples(n_clusters: int, replicates: int, seed: int, chunk: int = 256
              ) -> Iterator[np.ndarray]:
    """Cluster multiplicities of bootstrap replicates, in chunks (memory stays bounded)."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < replicates:
        b = min(chunk, replicates - done)
        # draw C sessions with replacement per replicate, then count each session's draws
        # (one flat bincount: far faster than b multinomial draws over C categories)
        picks = rng.integers(0, n_clusters, size=(b, n_clusters))
        picks += np.arange(b)[:, None] * n_clusters
        counts = np.bincount(picks.ravel(), minlength=b * n_clusters)
        yield counts.reshape(b, n_clusters).astype(float)
        done += b


def stratified_rate(ys: np.ndarray, ns: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Rates from per-segment sums (last axis); post-stratified when weights are given (shares
    renormalised over the segments present in each replicate)."""
    if weights is None:
        tot = ns.sum(axis=-1)
        return np.divide(ys.sum(axis=-1), tot, out=np.zeros_like(tot), where=tot > 0)
    present = ns > 0
    seg_rate = np.divide(ys, ns, out=np.zeros_like(ys), where=present)
    w = np.where(present, weights, 0.0)
    wsum = w.sum(axis=-1)
    return np.divide((w * seg_rate).sum(axis=-1), wsum, out=np.zeros_like(wsum), where=wsum > 0)


def percentile(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval; order statistics, so infinite replicates stay meaningful."""
    alpha = 1 - confidence
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return float(lo), float(hi)


# ---------------------------------------------------------------- estimates


@dataclass(frozen=True)
class SegmentEstimate:
    """One segment's share of the sample and of the deployment, and its own rate."""

    segment: str
    k: float
    n: int
    rate: float
    interval: Interval
    sample_share: float
    deployment_share: float

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "rate": self.rate, "interval": self.interval.as_list(),
                "sample_share": self.sample_share, "deployment_share": self.deployment_share}


@dataclass(frozen=True)
class Estimate:
    """A behavior's rate over units, post-stratified when a mix was given, with its interval."""

    k: float
    """Flagged units (samples)."""
    n: int
    """Units (samples) graded without detector error: the denominator."""
    sessions: int
    """Sessions (clusters) the units come from."""
    rate: float
    """The estimate: post-stratified to the deployment mix when one was given, else k/n."""
    raw_rate: float
    """k/n, the sample's own rate."""
    interval: Interval
    """Interval around `rate`."""
    effective_n: float
    """Sample size the interval effectively rests on (below n when sessions cluster)."""
    errors: int = 0
    """Units whose detector failed (left out of k and n)."""
    segments: dict[str, SegmentEstimate] = field(default_factory=dict)
    """Per-segment breakdown."""
    weighted: bool = False
    """True when post-stratified."""
    notes: list[str] = field(default_factory=list)
    """Caveats (segments missing from the sample or from the mix)."""

    @property
    def per_100k(self) -> float:
        return per_100k(self.rate)

    @property
    def zero_event_upper(self) -> float | None:
        """With no flagged unit: the one-sided upper bound at the interval's confidence."""
        return zero_event_upper(self.n, self.interval.confidence) if self.k == 0 else None

    @property
    def detection_floor(self) -> float:
        return detection_floor(self.n, self.interval.confidence)

    @property
    def detection_floor_text(self) -> str:
        return floor_text(self.n, self.interval.confidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate, "raw_rate": self.raw_rate, "k": self.k, "n": self.n,
            "sessions": self.sessions, "interval": self.interval.as_list(),
            "interval_method": self.interval.method, "confidence": self.interval.confidence,
            "effective_n": self.effective_n, "per_100k": self.per_100k,
            "zero_event_upper": self.zero_event_upper, "detection_floor": self.detection_floor,
            "detection_floor_text": self.detection_floor_text, "errors": self.errors,
            "weighted": self.weighted, "notes": list(self.notes),
            "segments": {s: e.to_dict() for s, e in self.segments.items()},
        }


def kish_n(n_seg: np.ndarray, weights: np.ndarray | None) -> float:
    """Kish effective sample size of post-stratification weights (n when unweighted)."""
    total = float(n_seg.sum())
    if weights is None or total == 0:
        return total
    present = n_seg > 0
    w = np.where(present, weights, 0.0)
    w = w / w.sum()
    denom = float(np.sum(np.divide(w * w, n_seg, out=np.zeros_like(w), where=present)))
    return min(total, 1 / denom) if denom > 0 else total


def interval_for(rate: float, n_eff: float, confidence: float, method: str,
                 replicates: np.ndarray | None, clusters: int = 0) -> tuple[Interval, float]:
    """The interval for a rate by method. `auto` is Wilson at the effective sample size
    p(1-p)/Var, Var from the cluster bootstrap scaled by C/(C-1) (the bootstrap's own
    small-sample bias), then shrunk by (z/t_{C-1})² so few sessions widen the interval the way
    a t-interval would (Korn & Graubard's effective-size correction)."""
    if method == "bootstrap" and replicates is not None and replicates.size:
        lo, hi = percentile(replicates[~np.isnan(replicates)], confidence)
        return Interval(lo, hi, confidence, "cluster-bootstrap"), n_eff
    if method == "auto" and replicates is not None and 0 < rate < 1 and clusters >= 2:
        var = float(np.nanvar(replicates, ddof=1)) if replicates.size > 1 else 0.0
        if var > 0:
            var *= clusters / (clusters - 1)
            z, t = z_value(confidence), t_quantile(confidence, clusters - 1)
            n_eff = min(n_eff, rate * (1 - rate) / var * (z / t) ** 2)
    if method == "clopper-pearson":
        return clopper_pearson(rate * n_eff, n_eff, confidence), n_eff
    iv = wilson(rate * n_eff, n_eff, confidence)
    name = "wilson-cluster" if method == "auto" and replicates is not None else "wilson"
    return Interval(iv.low, iv.high, confidence, name), n_eff


@dataclass
class Design:
    """Units summed per cluster (session) × segment, with the mix's weights: what the point
    estimates and every bootstrap replicate are computed from."""

    clusters: list[str]
    segments: list[str]
    y: np.ndarray
    n: np.ndarray
    weights: np.ndarray | None
    notes: list[str]

    @property
    def clustered(self) -> bool:
        """True when some session holds more than one trial (so turns are not independent)."""
        return bool(self.n.size) and float(self.n.sum(axis=1).max()) > 1


def design(units: Units, mix: Mapping[str, float] | None = None,
           clusters: list[str] | None = None, segments: list[str] | None = None) -> Design:
    """The Design of some units (clusters and segments may be given to align two runs)."""
    clusters = clusters if clusters is not None else sorted(set(units.cluster))
    segments = segments if segments is not None else sorted(set(units.segment))
    y, n = cluster_matrices(units, clusters, segments)
    weights, notes = mix_weights(segments, mix)
    return Design(clusters, segments, y, n, weights, notes)


Replicates = tuple[np.ndarray, np.ndarray]
"""Bootstrap rates of one design: overall (B,) and per segment (B, S; NaN where empty)."""


def bootstrap(designs: list[Design], replicates: int, seed: int) -> list[Replicates]:
    """Resample sessions once and apply the same multiplicities to every design (they must
    share their cluster order): paired replicates for a comparison, or one design's own."""
    rows: list[list[np.ndarray]] = [[] for _ in designs]
    seg_rows: list[list[np.ndarray]] = [[] for _ in designs]
    for m in resamples(len(designs[0].clusters), replicates, seed):
        for i, d in enumerate(designs):
            ys, ns = m @ d.y, m @ d.n
            rows[i].append(stratified_rate(ys, ns, d.weights))
            seg_rows[i].append(np.divide(ys, ns, out=np.full_like(ys, np.nan), where=ns > 0))
    return [(np.concatenate(r), np.concatenate(sr)) for r, sr in zip(rows, seg_rows, strict=True)]


def summarize(units: Units, d: Design, *, confidence: float, method: str,
              boot: Replicates | None) -> Estimate:
    """An Estimate from a design and (optionally) its bootstrap replicates."""
    y_seg, n_seg = d.y.sum(axis=0), d.n.sum(axis=0)
    rate = float(stratified_rate(y_seg, n_seg, d.weights))
    k, total = float(y_seg.sum()), int(n_seg.sum())
    interval, n_eff = interval_for(rate, kish_n(n_seg, d.weights), confidence, method,
                                   boot[0] if boot else None, len(d.clusters))
    shares = dict(zip(d.segments, d.weights / d.weights.sum(), strict=True)) \
        if d.weights is not None else {}
    seg_est = {}
    for i, s in enumerate(d.segments):
        r_s = float(y_seg[i] / n_seg[i]) if n_seg[i] else 0.0
        iv, _ = interval_for(r_s, float(n_seg[i]), confidence, method,
                             boot[1][:, i] if boot else None,
                             int(np.count_nonzero(d.n[:, i])))
        sample_share = float(n_seg[i]) / total if total else 0.0
        seg_est[s] = SegmentEstimate(s, float(y_seg[i]), int(n_seg[i]), r_s, iv, sample_share,
                                     float(shares.get(s, sample_share)))
    return Estimate(k=k, n=total, sessions=len(d.clusters), rate=rate,
                    raw_rate=k / total if total else 0.0, interval=interval, effective_n=n_eff,
                    errors=units.errors, segments=seg_est, weighted=d.weights is not None,
                    notes=list(d.notes))


def wants_bootstrap(d: Design, method: str) -> bool:
    """Whether an interval needs resampling: always for `bootstrap`; for `auto` only when
    sessions hold several trials (independent units have no design effect to measure)."""
    if len(d.clusters) < 2:
        return False
    return method == "bootstrap" or (method == "auto" and d.clustered)


def estimate(units: Units, *, confidence: float = 0.95, method: Method = "auto",
             mix: Mapping[str, float] | None = None, replicates: int = 2000,
             seed: int = 0) -> Estimate:
    """Estimate a rate from units: point, interval, post-stratification, segment breakdown.

    `auto` puts a Wilson interval on the design-effect-corrected sample size, the design effect
    measured by a cluster bootstrap over sessions; it stays sensible at zero events, where a
    pure bootstrap collapses to [0, 0]."""
    d = design(units, mix)
    boot = bootstrap([d], replicates, seed)[0] if wants_bootstrap(d, method) else None
    return summarize(units, d, confidence=confidence, method=method, boot=boot)

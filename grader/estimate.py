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

import functools
import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from grader.verdict import Verdict

Per = Literal["turn", "session"]
Method = Literal["auto", "wilson", "clopper-pearson", "bootstrap"]
UNLABELLED = "unlabelled"
"""Segment of units whose session carries no `segment` label."""

# ---------------------------------------------------------------- closed-form intervals


@dataclass(frozen=True)
class Interval:
    """A two-sided interval at `confidence`, and how it was computed."""

    low: float
    high: float
    confidence: float
    method: str

    def as_list(self) -> list[float | None]:
        """[low, high] for JSON; an infinite bound becomes None (unbounded)."""
        return [None if math.isinf(v) else v for v in (self.low, self.high)]


def z_value(confidence: float) -> float:
    """The two-sided normal quantile: 1.96 for 0.95."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(k: float, n: float, confidence: float = 0.95) -> Interval:
    """Wilson score interval for k successes in n trials (k, n may be effective, non-integer)."""
    if n <= 0:
        return Interval(0.0, 1.0, confidence, "wilson")
    p, z = k / n, z_value(confidence)
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k <= 0 else max(0.0, center - half)
    high = 1.0 if k >= n else min(1.0, center + half)
    return Interval(low, high, confidence, "wilson")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz evaluation)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (the beta distribution's CDF)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """Quantile of Beta(a, b): Newton steps on `betainc`, kept inside a shrinking bracket
    (bisection whenever a step would leave it), so it always converges."""
    lo, hi = 0.0, 1.0
    x = a / (a + b)
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    for _ in range(200):
        f = betainc(a, b, x) - q
        if f < 0:
            lo = x
        else:
            hi = x
        if abs(f) < 1e-15 or hi - lo < 1e-15:
            break
        pdf = math.exp(log_norm + (a - 1) * math.log(x) + (b - 1) * math.log1p(-x))
        step = x - f / pdf if pdf > 0 else -1.0
        x = step if lo < step < hi else (lo + hi) / 2
    return x


def clopper_pearson(k: float, n: float, confidence: float = 0.95) -> Interval:
    """Exact (Clopper–Pearson) interval: conservative, coverage never below nominal."""
    if n <= 0:
        return Interval(0.0, 1.0, confidence, "clopper-pearson")
    alpha = 1 - confidence
    low = 0.0 if k <= 0 else beta_ppf(alpha / 2, k, n - k + 1)
    high = 1.0 if k >= n else beta_ppf(1 - alpha / 2, k + 1, n - k)
    return Interval(low, high, confidence, "clopper-pearson")


def zero_event_upper(n: float, confidence: float = 0.95) -> float:
    """One-sided upper bound on the rate after 0 events in n units: 1 - (1-c)^(1/n) (≈ 3/n at
    95%, the "rule of three")."""
    return 1.0 if n <= 0 else 1 - (1 - confidence) ** (1 / n)


def detection_floor(n: float, confidence: float = 0.95) -> float:
    """The smallest rate this sample can tell apart from zero: a behavior rarer than this shows
    zero events in n units more than (1 - confidence) of the time."""
    return zero_event_upper(n, confidence)


def floor_text(n: float, confidence: float = 0.95) -> str:
    """'rates below 1 in N cannot be distinguished from zero here'."""
    if n <= 0:
        return "no units: nothing can be distinguished from zero here"
    one_in = round(1 / detection_floor(n, confidence))
    return f"rates below 1 in {one_in:,} cannot be distinguished from zero here"


def per_100k(rate: float) -> float:
    """A rate per unit as a rate per 100,000 units."""
    return rate * 100_000


# ---------------------------------------------------------------- units from verdicts

_SAMPLE = re.compile(r"^(.*)@(\d+)$")


def unit_key(v: Verdict) -> str:
    """The pairing key of a verdict without its sample suffix (the prefix it answers)."""
    key = v.pair_key or (v.session_id if v.turn is None else f"{v.session_id}#{v.turn}")
    if "@" not in key:  # the common case, without a regex
        return key
    m = _SAMPLE.match(key)
    return m.group(1) if m else key


def cluster_of(key: str) -> str:
    """The session a unit key belongs to (`source_session#3` -> `source_session`)."""
    head, sep, tail = key.rpartition("#")
    if sep and tail.lstrip("-").isdigit():
        return head
    return key


@dataclass
class Units:
    """Outcomes of one behavior per unit: flagged count `y` of `n` samples, with cluster
    (session) and segment. Units whose detector failed are counted in `errors`, not used."""

    keys: list[str] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    cluster: list[str] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    errors: int = 0

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, y: float, n: int, cluster: str, segment: str) -> None:
        self.keys.append(key)
        self.y.append(y)
        self.n.append(n)
        self.cluster.append(cluster)
        self.segment.append(segment)

    def subset(self, keys: Iterable[str]) -> Units:
        """The units with these keys, in the given order."""
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index[k] for k in keys]
        return Units(keys=[self.keys[i] for i in rows], y=[self.y[i] for i in rows],
                     n=[self.n[i] for i in rows], cluster=[self.cluster[i] for i in rows],
                     segment=[self.segment[i] for i in rows], errors=self.errors)


def units_from_verdicts(verdicts: Iterable[Verdict], behavior: str, per: Per = "turn") -> Units:
    """Tabulate one behavior's verdicts into units. A turn verdict is a unit; with
    `per="session"` turn verdicts roll up to their session (flagged when any turn is). A
    trajectory verdict (turn None) is a unit of its own: a whole session, or in a prefix-mode
    replay one regenerated prefix (`source_session#turn`), clustered by its source session.
    Samples of one prefix share a unit."""
    cells: dict[str, list[Any]] = {}  # unit key -> [flagged samples, samples, segment]
    per_sample: dict[tuple[str, str], list[Any]] = {}
    errors = 0
    for v in verdicts:
        if v.behavior != behavior:
            continue
        if v.flagged is None:
            errors += 1
            continue
        key = unit_key(v)
        seg = v.segment or UNLABELLED
        if per == "session" and v.turn is not None:
            # turn verdicts rolled up: one cell per (session, sample), flagged if any turn is
            sample = _SAMPLE.match(v.pair_key) if "@" in v.pair_key else None
            skey = (cluster_of(key), sample.group(2) if sample else "")
            cell = per_sample.setdefault(skey, [False, seg])
            cell[0] = cell[0] or bool(v.flagged)
        else:
            c = cells.setdefault(key, [0, 0, seg])
            c[0] += int(bool(v.flagged))
            c[1] += 1
    for (session, _sample), (flag, seg) in per_sample.items():
        c = cells.setdefault(session, [0, 0, seg])
        c[0] += int(flag)
        c[1] += 1
    keys = sorted(cells)
    rows = [cells[k] for k in keys]
    return Units(keys=keys, y=[r[0] for r in rows], n=[r[1] for r in rows],
                 cluster=[cluster_of(k) for k in keys], segment=[r[2] for r in rows],
                 errors=errors)


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


# ---------------------------------------------------------------- deployment mix


def normalize_mix(mix: Mapping[str, float], where: str = "the deployment mix") -> dict[str, float]:
    """Shares summing to 1; raises MixError for negative or all-zero shares."""
    from grader.gate_errors import GateError

    bad = [s for s, v in mix.items() if not isinstance(v, int | float) or v < 0]
    if bad:
        raise GateError(f"{where} gives segment {bad[0]!r} a share that is not a non-negative "
                        "number; give each segment a share like 0.25.")
    total = float(sum(mix.values()))
    if total <= 0:
        raise GateError(f"{where} has no positive share; give at least one segment a share.")
    return {s: float(v) / total for s, v in sorted(mix.items())}


def load_mix(ref: Mapping[str, float] | str) -> dict[str, float]:
    """A deployment mix from a table, a TOML file (`segment = share` lines, or a `[mix]`
    table), or a production corpus (each segment's share of its counted turns)."""
    if not isinstance(ref, str):
        return normalize_mix(ref)
    if ref.endswith(".toml"):
        import tomllib

        from grader.gate_errors import GateError

        try:
            with open(ref, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as exc:
            raise GateError(f"The deployment mix file {ref} does not exist; give a TOML file "
                            "of `segment = share` lines or a production corpus.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise GateError(f"The deployment mix file {ref} is not valid TOML ({exc}); fix "
                            "the syntax.") from exc
        table = data.get("mix", data.get("deployment_mix", data))
        return normalize_mix(table, where=ref)
    return mix_from_corpus(ref)


def mix_from_corpus(spec: str) -> dict[str, float]:
    """Each segment's share of the counted turns of a (production) corpus."""
    from grader.gate_errors import GateError
    from recorder.corpus import Corpus
    from recorder.turns import counted_turns

    counts: dict[str, int] = {}
    for session in Corpus(spec).sessions():
        seg = session.labels.get("segment") or UNLABELLED
        counts[seg] = counts.get(seg, 0) + len(counted_turns(session))
    if not counts:
        raise GateError(f"The corpus {spec} holds no sessions, so it gives no deployment mix; "
                        "give a corpus with labelled sessions or a TOML mix file.")
    return normalize_mix(counts, where=f"the corpus {spec}")


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


def mix_weights(segments: list[str], mix: Mapping[str, float] | None
                ) -> tuple[np.ndarray | None, list[str]]:
    """Weights aligned to `segments` and notes on segments the sample and mix do not share."""
    if mix is None:
        return None, []
    from grader.gate_errors import GateError

    shares = normalize_mix(mix)
    notes = []
    missing = sorted(set(shares) - set(segments))
    if missing:
        notes.append(f"deployment segments with no units here (their share is spread over the "
                     f"others): {', '.join(missing)}")
    unweighted = sorted(set(segments) - set(shares))
    if unweighted:
        notes.append(f"sample segments not in the deployment mix (given no weight): "
                     f"{', '.join(unweighted)}")
    w = np.array([shares.get(s, 0.0) for s in segments])
    if segments and w.sum() <= 0:
        raise GateError(f"The deployment mix ({', '.join(shares)}) shares no segment with the "
                        f"sample ({', '.join(segments)}); label sessions with the mix's segments "
                        "or fix the mix.")
    return w, notes


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


@functools.lru_cache(maxsize=1024)
def t_quantile(confidence: float, df: float) -> float:
    """Two-sided Student t quantile (by bisection on its CDF, via the incomplete beta)."""
    target = (1 - confidence) / 2  # upper tail mass

    def upper_tail(t: float) -> float:
        return 0.5 * betainc(df / 2, 0.5, df / (df + t * t))

    lo, hi = 0.0, 1e3
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2
        if upper_tail(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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

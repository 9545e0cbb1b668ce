"""Closed-form intervals for a rate: Wilson, Clopper–Pearson and Jeffreys (via the incomplete
beta), zero-event upper bounds and the detection floor, and the Student t quantile that widens
an interval when few sessions carry it.

>>> wilson(3, 1000).high                                  # doctest: +SKIP
>>> floor_text(20_000)                                    # "below 1.5 per 10,000 ..."
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist


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


def jeffreys(k: float, n: float, confidence: float = 0.95) -> Interval:
    """Jeffreys interval (the Beta(k + ½, n − k + ½) posterior's equal tails): near-nominal
    coverage at small counts, where a bootstrap of k events is too narrow (it can only
    resample the events it saw); k, n may be effective, non-integer."""
    if n <= 0:
        return Interval(0.0, 1.0, confidence, "jeffreys")
    alpha, k = 1 - confidence, min(max(k, 0.0), n)
    low = 0.0 if k <= 0 else beta_ppf(alpha / 2, k + 0.5, n - k + 0.5)
    high = 1.0 if k >= n else beta_ppf(1 - alpha / 2, k + 0.5, n - k + 0.5)
    return Interval(low, high, confidence, "jeffreys")


def zero_event_upper(n: float, confidence: float = 0.95) -> float:
    """One-sided upper bound on the rate after 0 events in n units: 1 - (1-c)^(1/n) (≈ 3/n at
    95%, the "rule of three")."""
    return 1.0 if n <= 0 else 1 - (1 - confidence) ** (1 / n)


def upper_bound(k: float, n: float, confidence: float = 0.95) -> float:
    """One-sided upper bound on the rate after k events in n units (k, n may be effective,
    non-integer): the exact (Clopper–Pearson) bound, so at k = 0 it is `zero_event_upper`."""
    if n <= 0 or k >= n:
        return 1.0
    if k <= 0:
        return zero_event_upper(n, confidence)
    return beta_ppf(confidence, k + 1, n - k)


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

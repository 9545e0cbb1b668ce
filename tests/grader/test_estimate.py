"""grader.estimate: zero-event bounds, coverage by simulation, post-stratification, the
bootstrap; the closed-form intervals are tested in test_intervals, units in test_units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grader.errors import GateError
from grader.estimate import (
    Units,
    clopper_pearson,
    detection_floor,
    estimate,
    floor_text,
    per_100k,
    units_from_verdicts,
    wilson,
    zero_event_upper,
)
from grader.testing import make_verdicts
from grader.verdict import Verdict


def test_zero_event_bounds_and_detection_floor() -> None:
    assert zero_event_upper(1000) == pytest.approx(1 - 0.05 ** (1 / 1000))
    assert zero_event_upper(1000) == pytest.approx(3 / 1000, rel=0.01)  # rule of three
    assert detection_floor(1000) == zero_event_upper(1000)
    assert floor_text(1000) == "rates below 1 in 334 cannot be distinguished from zero here"
    assert per_100k(0.0012) == pytest.approx(120)
    est = estimate(_units([0] * 500, clusters=100))
    assert est.k == 0 and est.zero_event_upper == pytest.approx(zero_event_upper(500))
    assert est.interval.low == 0 and est.interval.high > 0
    assert "1 in 167" in est.detection_floor_text


def _units(flags: list[int], clusters: int, segment: str = "a") -> Units:
    u = Units()
    for i, f in enumerate(flags):
        c = f"s{i % clusters}"
        u.add(f"{c}#{i // clusters}", float(f), 1, c, segment)
    return u


def test_per_session_rate_flags_a_session_when_any_turn_flags() -> None:
    vs = [Verdict(session_id="x", turn=t, behavior="b", flagged=t == 2, pair_key=f"s1#{t}")
          for t in range(4)]
    vs += [Verdict(session_id="y", turn=t, behavior="b", flagged=False, pair_key=f"s2#{t}")
           for t in range(4)]
    u = units_from_verdicts(vs, "b", per="session")
    assert (u.keys, u.y, u.n) == (["s1", "s2"], [1, 0], [1, 1])
    assert estimate(u).rate == 0.5


def _coverage_closed(fn: object, rng: np.random.Generator, trials: int) -> dict[tuple, float]:
    out = {}
    for p in (0.001, 0.01, 0.05, 0.2, 0.5):
        for n in (50, 200, 1000, 5000):
            cache: dict[int, bool] = {}
            hits = 0
            for k in rng.binomial(n, p, size=trials):
                if k not in cache:
                    iv = fn(int(k), n)  # type: ignore[operator]
                    cache[k] = iv.low <= p <= iv.high
                hits += cache[k]
            out[(p, n)] = hits / trials
    return out


def test_interval_coverage_by_simulation() -> None:
    """Seeded simulation on binomial data: nominal 95% intervals must cover >= 93%."""
    rng = np.random.default_rng(20260615)
    w = _coverage_closed(wilson, rng, 2000)
    cp = _coverage_closed(clopper_pearson, rng, 2000)
    # the cluster methods on sessions of 5 turns, independent (binomial) and clustered data
    cluster: dict[str, list[float]] = {"auto": [], "bootstrap": []}
    clustered: dict[str, float] = {}
    for p, sessions, rho in ((0.02, 100, 0.0), (0.1, 50, 0.0), (0.005, 200, 0.0),
                             (0.05, 80, 0.2)):
        methods = ("auto", "bootstrap", "wilson") if rho else ("auto", "bootstrap")
        hits = dict.fromkeys(methods, 0)
        for trial in range(150):  # one data set per trial, every method judged on it
            ps = rng.beta(p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho, size=sessions) \
                if rho else np.full(sessions, p)
            flags = (rng.random((sessions, 5)) < ps[:, None]).ravel()
            u = Units(keys=[f"s{i // 5}#{i % 5}" for i in range(sessions * 5)],
                      y=flags.astype(float).tolist(), n=[1] * (sessions * 5),
                      cluster=[f"s{i // 5}" for i in range(sessions * 5)],
                      segment=["a"] * (sessions * 5))
            for method in methods:
                iv = estimate(u, method=method, replicates=400, seed=trial).interval
                hits[method] += iv.low <= p <= iv.high
        for method in methods:
            if rho:
                clustered[method] = hits[method] / 150
            else:
                cluster[method].append(hits[method] / 150)
    figures = {  # binomial data: every figure must reach 93%
        "wilson": float(np.mean(list(w.values()))),
        "clopper-pearson": float(np.mean(list(cp.values()))),
        "auto (Wilson, cluster design effect)": float(np.mean(cluster["auto"])),
        "cluster bootstrap percentile": float(np.mean(cluster["bootstrap"])),
    }
    print("\ninterval coverage, nominal 95%, seeded simulation:")
    for name, value in figures.items():
        print(f"  {name:<40} {value:.4f}")
    print(f"  wilson worst cell {min(w.values()):.4f} at (p, n) = {min(w, key=w.__getitem__)}")
    print(f"  clopper-pearson worst cell {min(cp.values()):.4f}")
    # heavily clustered data (not binomial): shown, and `auto` must clearly beat plain Wilson
    for method in ("auto", "bootstrap", "wilson"):
        print(f"  {method + ' on clustered data (ICC 0.2)':<40} {clustered[method]:.4f}")
    assert clustered["auto"] >= 0.90 and clustered["auto"] > clustered["wilson"] + 0.03
    assert all(v >= 0.93 for v in figures.values()), figures
    assert min(cp.values()) >= 0.94  # exact intervals never undercover (up to simulation noise)


def test_post_stratification_recovers_a_known_rate_from_a_skewed_sample() -> None:
    # deployment: 80% support at 1%, 20% coding at 20% -> true rate 0.048
    mix = {"support": 0.8, "coding": 0.2}
    rng = np.random.default_rng(7)
    u = Units()
    for s in range(1000):  # the sample is skewed: 80% coding
        seg = "coding" if s % 5 else "support"
        p = 0.2 if seg == "coding" else 0.01
        for t, f in enumerate(rng.random(4) < p):
            u.add(f"s{s}#{t}", float(f), 1, f"s{s}", seg)
    raw = estimate(u, replicates=500)
    post = estimate(u, mix=mix, replicates=500)
    assert raw.rate == pytest.approx(0.162, abs=0.02)  # the sample's own mix misleads
    assert not raw.interval.low <= 0.048 <= raw.interval.high
    assert post.weighted and post.rate == pytest.approx(0.048, abs=0.01)
    assert post.interval.low <= 0.048 <= post.interval.high
    assert post.segments["coding"].deployment_share == pytest.approx(0.2)
    assert post.segments["coding"].sample_share == pytest.approx(0.8)
    assert post.segments["support"].rate == pytest.approx(0.01, abs=0.01)
    assert post.effective_n < post.n  # weighting costs precision


def test_mix_notes_missing_and_foreign_segments() -> None:
    u = _units([1, 0, 0, 0] * 25, clusters=20, segment="support")
    est = estimate(u, mix={"support": 0.5, "sales": 0.5}, replicates=200)
    assert est.rate == pytest.approx(0.25)
    assert any("sales" in n for n in est.notes)
    with pytest.raises(GateError, match="shares no segment"):
        estimate(u, mix={"sales": 1.0})


def test_bootstrap_is_deterministic_and_seed_dependent() -> None:
    vs = make_verdicts({"b": 0.1}, sessions=60, turns=3, seed=3)
    u = units_from_verdicts(vs, "b")
    a = estimate(u, method="bootstrap", seed=1, replicates=300)
    b = estimate(u, method="bootstrap", seed=1, replicates=300)
    c = estimate(u, method="bootstrap", seed=2, replicates=300)
    assert a.interval == b.interval
    assert a.interval != c.interval
    assert a.to_dict()["interval_method"] == "cluster-bootstrap"
    assert math.isclose(a.per_100k, a.rate * 1e5)


def test_prefix_mode_trajectory_verdicts_are_units_clustered_by_source_session() -> None:
    vs = [Verdict(session_id=f"traj-{s}-{t}", turn=None, behavior="b", flagged=(s, t) == (1, 0),
                  scope="trajectory", pair_key=f"s{s}#{t}") for s in range(3) for t in range(2)]
    u = units_from_verdicts(vs, "b", per="session")
    assert len(u) == 6 and set(u.cluster) == {"s0", "s1", "s2"}
    est = estimate(u, replicates=200)
    assert est.rate == pytest.approx(1 / 6) and est.sessions == 3

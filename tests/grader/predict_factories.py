"""Synthetic worlds with a known truth for the prediction tests: production, a baseline replay
and a candidate replay of the same sessions, where the simulation misreads both models by the
same multiplicative bias."""

from __future__ import annotations

import numpy as np

from grader.units import Units


def synthetic(*, p_base: float = 0.05, change: float = 2.0, bias: float = 0.5,
              sessions: int = 100, turns: int = 5, clustering: float = 4.0,
              seed: int = 0) -> tuple[Units, Units, Units, float]:
    """(observed, baseline, candidate, true deployment rate of the candidate).

    Each session has a propensity u (Gamma, mean 1; smaller `clustering` = stronger
    correlation between its turns) shared by all three: production flags a turn with
    probability p_base·u, the simulation with bias·p_base·u (baseline) and
    bias·change·p_base·u (candidate). The candidate's deployment rate is change·p_base."""
    rng = np.random.default_rng(seed)
    u = rng.gamma(clustering, 1 / clustering, sessions)
    sides = [Units() for _ in range(3)]
    probs = (p_base, bias * p_base, bias * change * p_base)
    for s in range(sessions):
        seg = ("support", "coding")[s % 2]
        for t in range(turns):
            for units, p in zip(sides, probs, strict=True):
                flag = float(rng.random() < min(1.0, p * u[s]))
                units.add(f"s{s}#{t}", flag, 1, f"s{s}", seg)
    return sides[0], sides[1], sides[2], change * p_base

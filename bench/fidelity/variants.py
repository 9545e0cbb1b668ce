"""Estimator ideas measured before (and instead of) building them into `deploysim predict`.

Each is computed here from the world's graded units (with the world's grader error, as predict
reads them) so that it can be scored beside predict on the same cells; one that helped would
move into grader/predict.py, one that did not stays here as the measurement that says so.

- **anchor_pooled**: predict's point estimate without its review and history: the observed
  rate × candidate/baseline, each post-stratified to the deployment mix (the reference the
  others are compared with).
- **anchor_per_segment**: the ratio taken within each segment, Σ_s mix_s · observed_s ·
  candidate_s / baseline_s: right if releases change differently by segment, noisier if not.
- **anchor_shrunk**: the simulated log-ratio shrunk toward no change by the share of its
  variance that is signal, w = max(0, 1 − se²/log(r)²) (a per-cell James–Stein-like factor;
  se from a session bootstrap): fewer false alarms where the simulated change is within noise.
- **predict_eb**: predict's own output with every behavior's change shrunk toward no change by
  empirical Bayes across the behaviors of one release pair (`eb_shrunk`): a change resting on
  few events borrows from how far the well-measured ones moved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from bench.fidelity.measure import Unit, as_graded
from bench.fidelity.params import BEHAVIORS, RELEASES
from bench.fidelity.scoring import score

VARIANTS = ("anchor_pooled", "anchor_per_segment", "anchor_shrunk")
CONTINUITY = 0.5


def by_segment(units: Sequence[Unit], flags: Sequence[bool]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for u, f in zip(units, flags, strict=True):
        k, n = out.get(u.segment or "", (0, 0))
        out[u.segment or ""] = (k + f, n + 1)
    return out


def mixed_rate(by: Mapping[str, tuple[int, int]], mix: Mapping[str, float]) -> float:
    return sum(share * (by[s][0] / by[s][1]) for s, share in mix.items() if by.get(s, (0, 0))[1])


def _safe(k: float, n: float) -> float:
    return k / n if k > 0 else CONTINUITY / (n + 1)


def _log_ratio_se(base: Sequence[Unit], bflags: Sequence[bool], cflags: Sequence[bool],
                  seed: int, reps: int = 400) -> float:
    """Session-bootstrap standard error of log(candidate/baseline) on the paired units."""
    sessions: dict[str, list[int]] = {}
    for i, u in enumerate(base):
        sessions.setdefault(u.session, []).append(i)
    groups = list(sessions.values())
    bk = np.array([sum(bflags[i] for i in g) for g in groups], float)
    ck = np.array([sum(cflags[i] for i in g) for g in groups], float)
    n = np.array([len(g) for g in groups], float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(groups), (reps, len(groups)))
    nb = n[idx].sum(1)
    b = np.where(bk[idx].sum(1) > 0, bk[idx].sum(1), CONTINUITY) / nb
    c = np.where(ck[idx].sum(1) > 0, ck[idx].sum(1), CONTINUITY) / nb
    return float(np.std(np.log(c / b)))


def paired(base: Sequence[Unit], cand: Sequence[Unit]) -> tuple[list[Unit], list[Unit]]:
    """The units graded in both runs, aligned by pair key (as predict pairs them)."""
    by_c = {u.pair_key: u for u in cand}
    both = sorted((u for u in base if u.pair_key in by_c), key=lambda u: u.pair_key)
    return both, [by_c[u.pair_key] for u in both]


def add_variants(windows: Sequence[Mapping[str, list[Unit]]],
                 runs: Mapping[str, Mapping[str, list[Unit]]], mixes: Sequence[Mapping[str, float]],
                 table: list[dict[str, Any]], seed: int, grader_error: bool) -> None:
    """Score every variant on every cell of `table` (prefix runs; mixes[k] is window k's)."""
    for k in range(len(RELEASES) - 1):
        base_run = runs.get(f"pair{k}-baseline-prefix")
        cand_run = runs.get(f"pair{k}-candidate-prefix")
        if base_run is None or cand_run is None:
            continue
        mix = mixes[k + 1]
        for b in BEHAVIORS:
            cell = next((c for c in table if c["pair"] == f"{RELEASES[k]}->{RELEASES[k + 1]}"
                         and c["behavior"] == b), None)
            if cell is None:
                continue
            obs_u = windows[k][b]
            base, cand = paired(base_run[b], cand_run[b])
            of = as_graded(obs_u, b, seed, grader_error)
            bf = as_graded(base, b, seed, grader_error)
            cf = as_graded(cand, b, seed, grader_error)
            o, bs, cs = by_segment(obs_u, of), by_segment(base, bf), by_segment(cand, cf)
            om, bm, cm = mixed_rate(o, mix), mixed_rate(bs, mix), mixed_rate(cs, mix)
            n_b = max(len(base), 1)
            ratio = _safe(cm * n_b, n_b) / _safe(bm * n_b, n_b)
            pooled = _safe(om * len(obs_u), len(obs_u)) * ratio
            per = 0.0
            for s, share in mix.items():
                ko, no = o.get(s, (0, 0))
                kb, nb = bs.get(s, (0, 0))
                kc, nc = cs.get(s, (0, 0))
                if no and nb and nc:
                    per += share * (ko / no) * _safe(kc, nc) / _safe(kb, nb)
            se = _log_ratio_se(base, bf, cf, seed + k)
            lr = math.log(ratio)
            w = max(0.0, 1 - se * se / (lr * lr)) if lr else 0.0
            shrunk = pooled / ratio * math.exp(w * lr)
            for name, est in zip(VARIANTS, (pooled, per, shrunk), strict=True):
                cell[name] = score(min(est, 1.0), None, om, cell["true"], cell["true_n"])


def eb_shrunk(behaviors: Mapping[str, Mapping[str, Any]], confidence: float = 0.95
              ) -> dict[str, float]:
    """Empirical-Bayes shrinkage of `deploysim predict --json`'s changes toward none.

    Per behavior L = log(predicted / observed) (the observed rate after the grader correction
    when one was applied) with s² its sampling variance, read off the paired ratio interval
    (log width / 2z); the spread of the true changes across behaviors is estimated by moments,
    τ² = max(0, mean(L²) − mean(s²)), and each L is multiplied by τ² / (τ² + s²): the
    posterior mean under a normal prior centred on no change. Behaviors in difference mode (no
    ratio) are left as predicted."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    logs: dict[str, tuple[float, float, float]] = {}
    for b, v in behaviors.items():
        fixed = v.get("corrected_rates") or {}
        obs = float(fixed.get("observed", v["observed_baseline_rate"]))
        iv = v.get("ratio_interval")
        pred = float(v["predicted_rate"])
        if obs <= 0 or pred <= 0 or not iv or iv[0] is None or iv[1] is None or iv[0] <= 0:
            continue
        logs[b] = (math.log(pred / obs), (math.log(iv[1]) - math.log(iv[0])) / (2 * z), obs)
    out = {b: float(v["predicted_rate"]) for b, v in behaviors.items()}
    if not logs:
        return out
    tau2 = max(0.0, sum(x * x for x, _, _ in logs.values()) / len(logs)
               - sum(s * s for _, s, _ in logs.values()) / len(logs))
    for b, (lr, se, obs) in logs.items():
        w = tau2 / (tau2 + se * se) if tau2 + se * se > 0 else 0.0
        out[b] = min(1.0, obs * math.exp(w * lr))
    return out

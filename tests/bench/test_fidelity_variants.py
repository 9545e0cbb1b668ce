"""Estimator ideas scored beside predict: the pooled anchor, per-segment anchoring, shrinkage."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity.measure import Unit
from bench.fidelity.params import BEHAVIORS, RELEASES
from bench.fidelity.variants import add_variants, eb_shrunk

B = BEHAVIORS[0]
MIX = {"coding": 0.5, "support": 0.5}


def _units(rates: dict[str, float], n: int = 400) -> list[Unit]:
    """n units per segment, the first rate·n of them flagged, 4 units per session."""
    out = []
    for seg, r in rates.items():
        out += [Unit(f"{seg}-s{i // 4}", i % 4, f"{seg}-{i}", seg, i < r * n) for i in range(n)]
    return out


def _table() -> list[dict[str, object]]:
    return [{"pair": f"{RELEASES[0]}->{RELEASES[1]}", "behavior": B, "true": 0.1,
             "true_n": 800, "true_direction": "up", "moved": True, "informative": True}]


def _score(obs: dict[str, float], base: dict[str, float], cand: dict[str, float]
           ) -> dict[str, object]:
    windows = [{b: _units(obs) if b == B else [] for b in BEHAVIORS} for _ in RELEASES]
    runs = {"pair0-baseline-prefix": {b: _units(base) for b in BEHAVIORS},
            "pair0-candidate-prefix": {b: _units(cand) for b in BEHAVIORS}}
    table = _table()
    add_variants(windows, runs, [MIX] * len(RELEASES), table, seed=1, grader_error=False)
    return table[0]


def test_a_change_alike_in_every_segment_reads_the_same_pooled_or_per_segment() -> None:
    cell = _score({"coding": 0.05, "support": 0.05}, {"coding": 0.1, "support": 0.1},
                  {"coding": 0.2, "support": 0.2})
    assert cell["anchor_pooled"]["rate"] == cell["anchor_per_segment"]["rate"] == 0.1
    # a doubling on 80 events each is signal: shrinkage barely moves it
    assert 0.09 < cell["anchor_shrunk"]["rate"] <= 0.1


def test_per_segment_anchoring_carries_a_change_confined_to_one_segment() -> None:
    cell = _score({"coding": 0.1, "support": 0.02}, {"coding": 0.1, "support": 0.05},
                  {"coding": 0.1, "support": 0.15})
    # coding 0.1 × 1, support 0.02 × 3: 0.08 per segment; pooled 0.06 × 0.125/0.075 = 0.1
    assert abs(cell["anchor_per_segment"]["rate"] - 0.08) < 1e-9
    assert abs(cell["anchor_pooled"]["rate"] - 0.1) < 1e-9


def test_a_change_within_noise_is_shrunk_toward_no_change() -> None:
    cell = _score({"coding": 0.05, "support": 0.05}, {"coding": 0.01, "support": 0.01},
                  {"coding": 0.0125, "support": 0.0125})
    # 8 events against 10: a ratio of 1.25 that noise alone makes; shrunk all the way to the
    # observed rate, where the pooled anchor moves by the full ratio
    assert cell["anchor_pooled"]["rate"] == 0.0625 and cell["anchor_pooled"]["direction"] == "up"
    assert cell["anchor_shrunk"]["rate"] == 0.05 and cell["anchor_shrunk"]["direction"] == "same"


def _predict_json(changes: dict[str, tuple[float, float]], obs: float = 0.02
                  ) -> dict[str, dict[str, object]]:
    """`deploysim predict --json` behaviours with a point change and a log-scale s.e. each."""
    z = 1.959963984540054
    return {b: {"predicted_rate": obs * math.exp(lr), "observed_baseline_rate": obs,
                "corrected_rates": None,
                "ratio_interval": [math.exp(lr - z * se), math.exp(lr + z * se)]}
            for b, (lr, se) in changes.items()}


def test_eb_shrinkage_lowers_the_error_of_noisy_changes_on_average() -> None:
    """True log-changes ~ N(0, 0.5²), measured with s.e. 0.2 to 1.0: shrinking each toward no
    change by τ²/(τ² + s²) lowers the mean squared log error, most for the noisiest."""
    rng = np.random.default_rng(3)
    raw_err, eb_err, noisy_raw, noisy_eb = [], [], [], []
    for _ in range(300):
        true = rng.normal(0, 0.5, 6)
        se = np.array([0.2, 0.2, 0.4, 0.4, 1.0, 1.0])
        seen = true + rng.normal(0, se)
        doc = _predict_json({f"b{i}": (float(seen[i]), float(se[i])) for i in range(6)})
        shrunk = eb_shrunk(doc)
        for i in range(6):
            e_raw = (seen[i] - true[i]) ** 2
            e_eb = (math.log(shrunk[f"b{i}"] / 0.02) - true[i]) ** 2
            raw_err.append(e_raw)
            eb_err.append(e_eb)
            if se[i] == 1.0:
                noisy_raw.append(e_raw)
                noisy_eb.append(e_eb)
    assert np.mean(eb_err) < 0.85 * np.mean(raw_err)
    assert np.mean(noisy_eb) < 0.6 * np.mean(noisy_raw)


def test_eb_shrinkage_leaves_a_well_measured_spread_of_changes_alone() -> None:
    doc = _predict_json({"a": (1.0, 0.05), "b": (-1.0, 0.05), "c": (0.5, 0.05)})
    doc["d"] = {"predicted_rate": 0.03, "observed_baseline_rate": 0.0, "corrected_rates": None,
                "ratio_interval": None}  # difference mode: left as predicted
    out = eb_shrunk(doc)
    for b in "abc":
        assert out[b] == pytest.approx(float(doc[b]["predicted_rate"]), rel=0.01)  # type: ignore[arg-type]
    assert out["d"] == 0.03

"""Estimator ideas scored beside predict: the pooled anchor, per-segment anchoring, shrinkage."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity.measure import Unit
from bench.fidelity.params import BEHAVIORS, RELEASES
from bench.fidelity.variants import add_variants

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

"""The two bounds scored beside the estimates: the replay bound (predict's anchor with no grader
error) and the known-traffic bound (the deployment's own true rate without novel intents)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity.bounds import add_bounds, novel_sessions
from bench.fidelity.measure import Unit
from bench.fidelity.params import BEHAVIORS, RELEASES, WorldConfig
from bench.fidelity.users import NOVEL_INTENTS, classify, session_spec

B = BEHAVIORS[0]
CFG = WorldConfig(sessions=300, seed=3)


def _cell(true: float, before: float) -> dict[str, object]:
    return {"pair": f"{RELEASES[0]}->{RELEASES[1]}", "behavior": B, "true": true,
            "true_n": 600, "true_before": before, "moved": True,
            "true_direction": "up" if true > before else "down"}


def _segmented(rate: float, tag: str) -> list[Unit]:
    """200 units in each of the world's segments, the first rate·200 of each flagged."""
    return [Unit(f"{tag}-{seg}-{i // 2}", i % 2, f"{seg}-{i}", seg, i < rate * 200)
            for seg in ("coding", "data-ops", "support") for i in range(200)]


def test_novel_sessions_are_those_whose_user_opens_with_a_novel_request() -> None:
    novel = novel_sessions(CFG, 1)
    w = CFG.window(1)
    specs = [session_spec(CFG.seed, w, i) for i in range(CFG.sessions)]
    # read from what the user says first, as the recording holds it
    opening = {s.id: classify(s.message(0))[0] for s in specs}
    assert novel == {sid for sid, intent in opening.items() if intent in NOVEL_INTENTS}
    # 15% of the sessions of the segments that have a novel intent (coding and data-ops, 60%
    # of window 1's mix): about 9% of all
    assert 0.04 < len(novel) / CFG.sessions < 0.15
    assert not novel_sessions(CFG, 0)  # the first window has none


def test_the_bounds_read_the_anchor_and_the_deployment_without_its_novel_intents() -> None:
    novel = novel_sessions(CFG, 1)
    w1 = CFG.window(1)
    # the deployment: every session that opens with a novel intent misbehaves, none other
    deployment = [Unit(s.id, 0, f"{s.id}#0", s.segment, s.id in novel)
                  for s in (session_spec(CFG.seed, w1, i) for i in range(CFG.sessions))]
    windows = [{B: _segmented(0.10, "w0")}, {B: deployment}]
    runs = {"pair0-baseline-prefix": {B: _segmented(0.20, "w0")},
            "pair0-candidate-prefix": {B: _segmented(0.40, "w0")}}
    true = len(novel) / CFG.sessions
    table = [_cell(true, 0.10)]
    add_bounds(CFG, windows, runs, table)
    cell = table[0]
    # the anchor: production 0.10 × candidate/baseline 2 (every segment alike, so any mix)
    assert cell["bound_replay"]["rate"] == pytest.approx(0.20)
    assert cell["bound_replay"]["direction"] == "up"
    # without the novel sessions nothing misbehaves: the oracle reads 0, wrong by all of it
    assert cell["bound_known_traffic"]["rate"] == 0.0
    assert cell["bound_known_traffic"]["direction"] == "down"
    assert cell["bound_known_traffic"]["error"] > 5

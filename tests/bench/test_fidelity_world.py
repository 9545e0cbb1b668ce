"""The calibration world's calibration history: built only from what a user had before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity import world
from bench.fidelity.params import WorldConfig


def _calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, k: int) -> list[list[str]]:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        seen.append([str(c) for c in cmd])
        return subprocess.CompletedProcess(cmd, 0, b"{}", b"")

    monkeypatch.setattr(world.subprocess, "run", fake_run)
    path = world.history_for(world.WorldRun(WorldConfig(), tmp_path), k)
    assert path == tmp_path / f"history{k}.json"
    return seen


def _pairs(cmd: list[str]) -> list[tuple[str, str]]:
    obs = [Path(cmd[i + 1]).name for i, c in enumerate(cmd) if c == "--observed"]
    sim = [Path(cmd[i + 1]).name for i, c in enumerate(cmd) if c == "--simulated"]
    return list(zip(obs, sim, strict=True))


def test_history_for_pair_k_never_sees_window_k_plus_1(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    calls = _calls(monkeypatch, tmp_path, 2)
    assert all("--history" in c and "calibrate" in c for c in calls)
    got = [_pairs(c) for c in calls]
    # the deployed release against its own production, then each earlier pair's anchored error
    assert got == [[("window2", "pair2-baseline-prefix")],
                   [("window0", "pair0-baseline-prefix"), ("window1", "pair0-candidate-prefix")],
                   [("window1", "pair1-baseline-prefix"), ("window2", "pair1-candidate-prefix")]]
    assert not any("window3" in p for c in calls for p in c)


def test_first_pair_has_only_the_deployed_release_calibrated(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    (tmp_path / "history0.json").write_text("stale")  # a rescore starts the history afresh
    calls = _calls(monkeypatch, tmp_path, 0)
    assert [_pairs(c) for c in calls] == [[("window0", "pair0-baseline-prefix")]]
    assert not (tmp_path / "history0.json").exists()

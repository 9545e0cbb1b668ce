"""Executors: shard splitting, and Ray with two local workers giving the local results."""

from __future__ import annotations

import pytest
from replay_helpers import TURNS, make_config

from recorder import codec
from recorder.records import record_to_obj
from replayer.executor import split
from replayer.replay import replay
from replayer.run_folder import trajectories
from replayer.testing.fake_model import RuleAgent, serve_in_thread


def test_split_keeps_sessions_whole_and_balances():
    keys = {(f"s{i}", t, 0) for i, n in enumerate([5, 8, 9, 2]) for t in range(n)}
    shards = split(keys, 2)
    assert set().union(*shards) == keys and sum(map(len, shards)) == len(keys)
    for shard in shards:
        sessions = {k[0] for k in shard}
        assert all({k for k in keys if k[0] == s} <= shard for s in sessions)
    assert sorted(map(len, shards)) == [11, 13]
    assert split(keys, 2) == shards  # deterministic
    assert split(set(), 3) == []


def _payloads(out: str) -> list[bytes]:
    return sorted(codec.encode(record_to_obj(s)) for s in trajectories(out))


def test_ray_with_two_local_workers_matches_local(corpus_path, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (deploysim[ray])")
    import asyncio

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with serve_in_thread(RuleAgent(), latency=0.01) as server:
            local, dist = str(tmp_path / "local"), str(tmp_path / "ray")
            # the real stub engine under a perturbing profile, built in each worker
            a = asyncio.run(replay(make_config(corpus_path, local, server.openai_url,
                                               profile="flaky", seed=5),
                                   progress_mode="off"))
            b = asyncio.run(replay(make_config(corpus_path, dist, server.openai_url,
                                               profile="flaky", seed=5, executor="ray",
                                               ray_workers=2),
                                   progress_mode="off"))
    finally:
        ray.shutdown()
    assert b["status"] == "complete" and b["counts"] == a["counts"]
    assert b["counts"]["turns"] == sum(TURNS) and b["provenance"] == a["provenance"]
    assert _payloads(local) == _payloads(dist)
    shard_files = sorted(p.name for p in (tmp_path / "ray").glob("trajectories-*.cassette"))
    assert shard_files == ["trajectories-ray00-0000.cassette", "trajectories-ray01-0000.cassette"]


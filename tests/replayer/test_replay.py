"""`replayer.replay.replay()`: how a local run reads its corpus, and the response cache it
creates before shards open it."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from replay_helpers import TURNS, make_config, recorded_answerer

from recorder import codec
from recorder.corpus import Corpus
from recorder.records import record_to_obj
from replayer import shard as shard_module
from replayer.replay import create_cache, replay
from replayer.run_folder import trajectories
from replayer.testing.fake_model import RuleAgent, serve_in_thread


def _payloads(out: str) -> list[bytes]:
    return sorted(codec.encode(record_to_obj(s)) for s in trajectories(out))


def test_the_local_run_reads_the_corpus_once_or_streams_it_with_the_same_result(
        corpus_path, tmp_path, monkeypatch):
    streams: list[int] = []  # the shard reading its own sessions again
    real = shard_module.shard_sessions

    def counting(corpus: Corpus, ids: Any) -> Any:
        streams.append(len(ids))
        return real(corpus, ids)

    monkeypatch.setattr(shard_module, "shard_sessions", counting)
    with serve_in_thread(RuleAgent()) as server:
        kept = asyncio.run(replay(make_config(corpus_path, str(tmp_path / "a"),
                                              server.openai_url, samples=2, seed=3),
                                  answerer=recorded_answerer, progress_mode="off"))
        assert streams == []  # read once, by the run, and handed to the shard
        monkeypatch.setattr(shard_module, "KEEP_MESSAGES", 10)  # too big to keep: streamed
        streamed = asyncio.run(replay(make_config(corpus_path, str(tmp_path / "b"),
                                                  server.openai_url, samples=2, seed=3),
                                      answerer=recorded_answerer, progress_mode="off"))
        assert streams  # streamed: the shard reads its own share
    assert kept["counts"] == streamed["counts"] and kept["counts"]["turns"] == 2 * sum(TURNS)
    assert _payloads(str(tmp_path / "a")) == _payloads(str(tmp_path / "b"))


def test_the_cache_is_created_in_wal_mode_before_ray_shards_open_it(tmp_path):
    config = make_config("c", str(tmp_path / "run"), "http://x/v1")
    create_cache(config)
    db = sqlite3.connect(config.cache_path())
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ("responses",) in db.execute("SELECT name FROM sqlite_master").fetchall()
    finally:
        db.close()
    create_cache(config.model_copy(update={"cache": False, "out": str(tmp_path / "b")}))
    assert not (tmp_path / "b").exists()


def test_a_replay_leaves_the_garbage_collector_as_it_found_it(corpus_path, tmp_path,
                                                              monkeypatch):
    """The run reads its corpus with the collector paused and freezes it for the run
    (recorder.collector); a library caller's process gets its settings back afterwards."""
    import gc

    import replayer.executor as executor

    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    frozen_at_shard_start: list[int] = []
    real = executor.run_shard

    async def watching(*args: Any, **kwargs: Any) -> Any:
        frozen_at_shard_start.append(gc.get_freeze_count())
        return await real(*args, **kwargs)

    monkeypatch.setattr(executor, "run_shard", watching)
    with serve_in_thread(RuleAgent()) as server:
        asyncio.run(replay(make_config(corpus_path, str(tmp_path / "out"), server.openai_url,
                                       seed=3),
                           answerer=recorded_answerer, progress_mode="off"))
    assert frozen_at_shard_start and frozen_at_shard_start[0] > before[2]  # frozen on reading
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == before

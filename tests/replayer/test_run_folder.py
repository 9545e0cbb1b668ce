"""The run folder: kill-and-resume, determinism, the response cache."""

from __future__ import annotations

import os
import signal
from collections import Counter

from replay_helpers import (
    TURNS,
    make_config,
    recorded_answerer,
    start_replay_script,
    wait_for_trajectories,
)

from recorder import codec
from recorder.records import record_to_obj
from replayer.replay import replay
from replayer.run_folder import done_keys, trajectories
from replayer.testing.fake_model import FakeModelServer, RuleAgent, serve_in_thread
from runtime.run_manifest import read_manifest


def _payloads(out: str) -> list[bytes]:
    return sorted(codec.encode(record_to_obj(s)) for s in trajectories(out))


def test_sigkill_mid_run_then_rerun_finishes_each_turn_exactly_once(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent(), latency=0.05) as server:
        proc = start_replay_script(tmp_path, corpus_path, out, server.openai_url,
                                   concurrency=2)
        try:
            wait_for_trajectories(proc, out, 4)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        before = len(done_keys(out))
        assert 4 <= before < sum(TURNS), "the kill should land mid-run"
        assert read_manifest(out).model_dump()["status"] == "running"  # never finished

        import asyncio

        summary = asyncio.run(replay(make_config(corpus_path, out, server.openai_url),
                                     answerer=recorded_answerer, progress_mode="off"))
    assert summary["status"] == "complete"
    assert summary["skipped"] == before and summary["written"] == sum(TURNS) - before
    keys = Counter((t.source.source_session, t.source.source_turn, t.source.sample)
                   for t in trajectories(out))
    assert len(keys) == sum(TURNS) and set(keys.values()) == {1}
    assert read_manifest(out).counts["turns"] == sum(TURNS)
    # a third run has nothing left to do
    again = asyncio.run(replay(make_config(corpus_path, out, server.openai_url),
                               answerer=recorded_answerer, progress_mode="off"))
    assert again["written"] == 0 and again["skipped"] == sum(TURNS)


async def test_same_seed_gives_byte_identical_trajectories_whatever_the_concurrency(
        corpus_path, tmp_path):
    async with FakeModelServer(RuleAgent(), latency=0.01) as server:
        a, b = str(tmp_path / "a"), str(tmp_path / "b")
        sa = await replay(make_config(corpus_path, a, server.openai_url, concurrency=1,
                                      samples=2, seed=7),
                          answerer=recorded_answerer, progress_mode="off")
        sb = await replay(make_config(corpus_path, b, server.openai_url, concurrency=8,
                                      samples=2, seed=7),
                          answerer=recorded_answerer, progress_mode="off")
    assert sa["run_id"] == sb["run_id"]
    assert sa["counts"] == sb["counts"] and sa["counts"]["turns"] == 2 * sum(TURNS)
    assert _payloads(a) == _payloads(b)


async def test_response_cache_makes_reruns_free_and_identical(corpus_path, tmp_path):
    cache = str(tmp_path / "cache")
    async with FakeModelServer(RuleAgent()) as server:
        first = await replay(make_config(corpus_path, str(tmp_path / "a"), server.openai_url,
                                         cache_dir=cache),
                             answerer=recorded_answerer, progress_mode="off")
        calls = len(server.requests)
        second = await replay(make_config(corpus_path, str(tmp_path / "b"), server.openai_url,
                                          cache_dir=cache),
                              answerer=recorded_answerer, progress_mode="off")
        assert len(server.requests) == calls  # nothing reached the model
        # (sessions that open with the same request share its answer even on the first run)
        assert second["usage"]["cache_hits"] == calls + first["usage"]["cache_hits"]
        assert second["usage"]["requests"] == 0
        third = await replay(make_config(corpus_path, str(tmp_path / "c"), server.openai_url,
                                         cache_dir=cache, cache=False),
                             answerer=recorded_answerer, progress_mode="off")
        assert len(server.requests) > calls and third["usage"]["cache_hits"] == 0
    assert first["usage"]["requests"] == calls
    assert _payloads(str(tmp_path / "a")) == _payloads(str(tmp_path / "b")) == \
        _payloads(str(tmp_path / "c"))
    # the default cache lives in the run folder
    assert not os.path.exists(tmp_path / "a" / "cache")


async def test_a_different_configuration_cannot_resume_into_the_same_folder(corpus_path,
                                                                           tmp_path):
    import pytest

    from replayer.errors import ReplayConfigError

    out = str(tmp_path / "run")
    async with FakeModelServer(RuleAgent()) as server:
        await replay(make_config(corpus_path, out, server.openai_url, sample=1),
                     answerer=recorded_answerer, progress_mode="off")
        with pytest.raises(ReplayConfigError, match="its seed was 0, now 3"):
            await replay(make_config(corpus_path, out, server.openai_url, sample=1, seed=3),
                         answerer=recorded_answerer, progress_mode="off")
    assert os.path.exists(os.path.join(out, "cache", "responses.sqlite"))


async def test_run_folder_on_an_fsspec_url(corpus_path, tmp_path):
    import fsspec

    out = f"memory://dsim-test-{os.getpid()}/run"
    async with FakeModelServer(RuleAgent()) as server:
        summary = await replay(make_config(corpus_path, out, server.openai_url,
                                           cache_dir=str(tmp_path / "cache")),
                               answerer=recorded_answerer, progress_mode="off")
        again = await replay(make_config(corpus_path, out, server.openai_url,
                                         cache_dir=str(tmp_path / "cache")),
                             answerer=recorded_answerer, progress_mode="off")
    assert summary["counts"]["turns"] == sum(TURNS) and again["skipped"] == sum(TURNS)
    assert read_manifest(out).counts["trajectories"] == sum(TURNS)
    assert len(list(trajectories(out))) == sum(TURNS)
    fsspec.filesystem("memory").rm(f"/dsim-test-{os.getpid()}", recursive=True)


def test_record_payload_encodes_exactly_like_the_recorder():
    from recorder.turns import turns as turns_of
    from replayer.run_folder import record_payload
    from replayer.testing.synthetic_sessions import support_session

    s = support_session("s9", 6)
    for t in turns_of(s):
        part = s.model_copy(update={"messages": s.messages[: t.end]})
        assert record_payload(part) == codec.encode(record_to_obj(part))


def test_differences_name_the_leaf_field_that_changed():
    from replayer.run_folder import describe_differences, differences

    old = {"corpus_hash": "a" * 64, "model": {"name": "m", "api": "openai-chat",
                                              "base_url": "http://127.0.0.1:9/v1"}, "seed": 1}
    new = {**old, "model": {**old["model"], "base_url": "http://127.0.0.1:8000/v1"}}
    assert differences(old, new) == [("model.base_url", "http://127.0.0.1:9/v1",
                                      "http://127.0.0.1:8000/v1")]
    assert describe_differences(old, new) == ("its model.base_url was http://127.0.0.1:9/v1, "
                                              "now http://127.0.0.1:8000/v1")
    text = describe_differences(old, {**new, "corpus_hash": "b" * 64, "seed": 2, "mode": "x"})
    assert text.startswith("its corpus_hash was aaaaaaaa") and "and 1 more" in text
    assert describe_differences(old, old) == "its configuration differs"


def test_reset_removes_only_what_a_run_wrote(tmp_path):
    import pytest

    from replayer.errors import ReplayConfigError
    from replayer.run_folder import reset
    from runtime.run_manifest import RunManifest, write_manifest

    run_dir = tmp_path / "run"
    write_manifest(str(run_dir), RunManifest(run_id="run-x", created=0, deploysim_version="0"))
    for name in ("trajectories-0-0000.cassette", "trajectories-0-0001-repaired.cassette",
                 "verdicts-0123456789ab.cassette", "cache/responses.sqlite",
                 "cache/responses.sqlite-wal"):
        (run_dir / name).parent.mkdir(exist_ok=True)
        (run_dir / name).write_bytes(b"x")
    (run_dir / "cache" / "keep.txt").write_text("not ours")
    with pytest.raises(ReplayConfigError, match=r"cache/keep\.txt\), so nothing was removed"):
        reset(str(run_dir))
    assert (run_dir / "manifest.json").exists()
    (run_dir / "cache" / "keep.txt").unlink()
    assert reset(str(run_dir)) == 6
    assert list(run_dir.iterdir()) == []
    assert reset(str(tmp_path / "missing")) == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.cassette").write_bytes(b"x")
    with pytest.raises(ReplayConfigError, match="is not a replay run"):
        reset(str(tmp_path / "other"))
    assert (tmp_path / "other" / "a.cassette").exists()


def test_reset_on_an_fsspec_url():
    import fsspec

    from replayer.run_folder import reset
    from runtime.run_manifest import RunManifest, write_manifest

    root = f"memory://dsim-reset-{os.getpid()}"
    write_manifest(f"{root}/run", RunManifest(run_id="run-x", created=0, deploysim_version="0"))
    with fsspec.open(f"{root}/run/trajectories-0-0000.cassette", "wb") as f:
        f.write(b"x")
    assert reset(f"{root}/run") == 2
    fs = fsspec.filesystem("memory")
    assert not fs.find(f"/dsim-reset-{os.getpid()}/run")
    fs.rm(f"/dsim-reset-{os.getpid()}", recursive=True)

"""Local worker processes (`--workers N`): the same run as one process, byte for byte; kill,
crash and Ctrl-C leave a resumable run and no orphans; the flag's bad values."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from replay_helpers import (
    TURNS,
    RecordedAnswerer,
    make_config,
    recorded_answerer,
    start_replay_script,
    wait_for_trajectories,
)

from deploysim.cli import run
from recorder import codec
from recorder.corpus import Corpus
from recorder.llm import ModelClient
from recorder.records import record_to_obj
from recorder.run import read_manifest
from replayer import shard as shard_module
from replayer.clients import Accounting
from replayer.config import ReplayConfig
from replayer.processes import GRACE_S, WorkerFailed
from replayer.replay import replay
from replayer.run import done_keys, trajectories
from replayer.shard import build_client
from replayer.testing.fake_model import RuleAgent, serve_in_thread

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")
UNSTABLE = {"created", "updated", "finished", "elapsed_s", "usage"}
"""Manifest fields that measure the run rather than describe its output: times, and usage
(which requests the response cache saved depends on which process saw an identical request
first — already so with one process at different concurrencies)."""


def _payloads(out: str) -> list[bytes]:
    return sorted(codec.encode(record_to_obj(s)) for s in trajectories(out))


def _manifest(out: str) -> dict[str, Any]:
    return {k: v for k, v in read_manifest(out).model_dump().items() if k not in UNSTABLE}


def test_two_workers_write_exactly_what_one_process_writes(corpus_path, tmp_path):
    with serve_in_thread(RuleAgent(), latency=0.01) as server:
        one, two = str(tmp_path / "one"), str(tmp_path / "two")
        # the real stub engine under a perturbing profile, built in each worker
        a = asyncio.run(replay(make_config(corpus_path, one, server.openai_url,
                                           profile="flaky", seed=5, samples=2),
                               progress_mode="off"))
        b = asyncio.run(replay(make_config(corpus_path, two, server.openai_url,
                                           profile="flaky", seed=5, samples=2, workers=2),
                               progress_mode="off"))
    assert b["status"] == "complete" and b["workers"] == 2 and a["workers"] == 1
    assert b["counts"] == a["counts"] and b["counts"]["turns"] == 2 * sum(TURNS)
    assert b["provenance"] == a["provenance"]
    assert _payloads(one) == _payloads(two)
    assert _manifest(one) == _manifest(two)  # stub description and stats included
    files = sorted(p.name for p in (tmp_path / "two").glob("trajectories-*.cassette"))
    assert files == ["trajectories-local00-0000.cassette", "trajectories-local01-0000.cassette"]


def test_more_workers_than_sessions(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent()) as server:
        # 3 sessions, 4 workers: one worker has nothing to do and stops
        summary = asyncio.run(replay(make_config(corpus_path, out, server.openai_url,
                                                 workers=4),
                                     answerer=recorded_answerer, progress_mode="off"))
        # nothing left to do: the workers get no shard and are stopped
        again = asyncio.run(replay(make_config(corpus_path, out, server.openai_url,
                                               workers=2),
                                   answerer=recorded_answerer, progress_mode="off"))
    assert summary["status"] == "complete" and summary["written"] == sum(TURNS)
    assert len(list((tmp_path / "run").glob("trajectories-*.cassette"))) == 3
    assert again["status"] == "complete" and again["written"] == 0
    assert again["skipped"] == sum(TURNS) and again["counts"] == summary["counts"]
    keys = Counter((t.source.source_session, t.source.source_turn) for t in trajectories(out))
    assert len(keys) == sum(TURNS) and set(keys.values()) == {1}


class ExitingClient:
    """A model client that kills its worker process on the Nth call (a crash, not an error)."""

    def __init__(self, inner: ModelClient, after: int) -> None:
        self.inner, self.after, self.calls = inner, after, 0

    async def complete(self, messages: Any, **kw: Any) -> Any:
        self.calls += 1
        if self.calls > self.after:
            os._exit(3)
        return await self.inner.complete(messages, **kw)

    async def close(self) -> None:
        await self.inner.close()  # type: ignore[attr-defined]


def crashing_clients(config: ReplayConfig, model: str, accounting: Accounting) -> ExitingClient:
    return ExitingClient(build_client(config, model, accounting), after=3)


def test_a_crashed_worker_is_one_sentence_and_the_run_resumes(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent()) as server:
        config = make_config(corpus_path, out, server.openai_url, workers=2, concurrency=2)
        with pytest.raises(WorkerFailed) as failed:  # the clients are built in the workers
            asyncio.run(replay(config, answerer=recorded_answerer, progress_mode="off",
                               client_factory=crashing_clients))
        assert read_manifest(out).model_dump()["status"] == "interrupted"
        # resumed by one process: the worker count is not part of the run
        summary = asyncio.run(replay(config.model_copy(update={"workers": 1}),
                                     answerer=recorded_answerer, progress_mode="off"))
    message = str(failed.value)
    assert "before finishing its shard" in message and "of 2" in message
    assert message.count(". ") == 0 and "rerunning the same command" in message
    assert summary["status"] == "complete" and summary["counts"]["turns"] == sum(TURNS)
    keys = Counter((t.source.source_session, t.source.source_turn) for t in trajectories(out))
    assert len(keys) == sum(TURNS) and set(keys.values()) == {1}


class UndescribableAnswerer(RecordedAnswerer):
    """An answerer that fails as worker 0 describes it, after the other workers are forked."""

    def describe(self) -> dict[str, Any]:
        raise RuntimeError("describe failed")


def undescribable(corpus: Corpus, config: ReplayConfig) -> UndescribableAnswerer:
    return UndescribableAnswerer(corpus)


def test_a_failed_start_stops_every_worker_without_waiting_out_the_grace(corpus_path,
                                                                         tmp_path):
    # worker 0 fails after forking; a fork still waiting for its job (its pid not yet known to
    # the parent) must be stopped by its pipe closing, not by worker 0 waiting GRACE_S for it
    for attempt in range(5):  # the fork's readiness races the failure: try a few times
        config = make_config(corpus_path, str(tmp_path / f"run{attempt}"),
                             "http://127.0.0.1:9/v1", workers=3)
        started = time.monotonic()
        with pytest.raises(WorkerFailed, match="describe failed"):
            asyncio.run(replay(config, answerer=undescribable, progress_mode="off"))
        assert time.monotonic() - started < GRACE_S / 2


def test_the_last_progress_line_carries_the_workers_final_tokens(corpus_path, tmp_path):
    from rich.console import Console

    shown = io.StringIO()
    with serve_in_thread(RuleAgent()) as server:
        summary = asyncio.run(replay(make_config(corpus_path, str(tmp_path / "run"),
                                                 server.openai_url, workers=2),
                                     answerer=recorded_answerer, progress_mode="log",
                                     console=Console(file=shown, width=200)))
    tokens = summary["usage"]["input_tokens"] + summary["usage"]["output_tokens"]
    last = [line for line in shown.getvalue().splitlines() if line.startswith("replay:")][-1]
    assert tokens > 0 and f"{summary['written']}/{summary['written']}" in last
    assert f"tokens {tokens:,}" in last, last


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.add(pid)
        except OSError:
            pass
    return alive


def _wait_gone(pids: set[int], seconds: float = 20.0) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := _alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_the_parent_leaves_no_worker_and_a_rerun_finishes(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent(), latency=0.05) as server:
        proc = start_replay_script(tmp_path, corpus_path, out, server.openai_url,
                                   concurrency=2, workers=2)
        try:
            wait_for_trajectories(proc, out, 4)
            family = _descendants(proc.pid)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        before = len(done_keys(out))
        assert 4 <= before < sum(TURNS), "the kill should land mid-run"
        assert len(family) >= 2  # the workers were running
        assert _wait_gone(family) == set(), "workers outlived their parent"
        summary = asyncio.run(replay(make_config(corpus_path, out, server.openai_url,
                                                 workers=2),
                                     answerer=recorded_answerer, progress_mode="off"))
    assert summary["status"] == "complete"
    assert summary["skipped"] + summary["written"] == sum(TURNS)
    keys = Counter((t.source.source_session, t.source.source_turn) for t in trajectories(out))
    assert len(keys) == sum(TURNS) and set(keys.values()) == {1}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_on_the_cli_stops_the_workers_and_the_run_resumes(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    args = ["replay", corpus_path, "--model", "sim-candidate", "--out", out,
            "--progress", "off", "--concurrency", "2", "--workers", "2", "--json"]
    with serve_in_thread(RuleAgent(), latency=0.05) as server:
        url = ["--base-url", server.openai_url]
        # its own process group, as a terminal's Ctrl-C signals the whole foreground group
        proc = subprocess.Popen([DEPLOYSIM, *args, *url], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            wait_for_trajectories(proc, out, 4)
            family = _descendants(proc.pid)
            os.killpg(proc.pid, signal.SIGINT)
            _stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert _wait_gone(family) == set()
        assert read_manifest(out).model_dump()["status"] == "interrupted"
        before = len(done_keys(out))
        again = subprocess.run([DEPLOYSIM, *args, *url], capture_output=True, text=True,
                               timeout=120)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["skipped"] == before and summary["written"] == sum(TURNS) - before
    assert summary["counts"]["turns"] == sum(TURNS)


def test_cli_workers_flag_errors_are_one_sentence(corpus_path, tmp_path, capsys):
    def error(*extra: str) -> str:
        code = run(["replay", corpus_path, "--model", "m", "--base-url",
                    "http://127.0.0.1:9/v1", "--out", str(tmp_path / "run"), *extra])
        assert code == 2
        return capsys.readouterr().err.strip()

    assert error("--workers", "0") == ("deploysim: error: --workers 0 must be at least 1 (1 "
                                       "runs the replay in this process).")
    assert error("--workers", "two") == ("deploysim: error: --workers 'two' is not a whole "
                                         "number; give how many worker processes to run, e.g. "
                                         "--workers 2.")
    assert error("--workers", "2", "--executor", "ray") == (
        "deploysim: error: --workers applies to --executor local; with --executor ray use "
        "--ray-workers 2 instead.")
    assert not os.path.exists(tmp_path / "run")


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


def test_shard_sessions_is_sessions_of_restricted_to_the_ids(tmp_path):
    from recorder.session import Session
    from replayer.shard import sessions_of, shard_sessions
    from replayer.testing.sessions import support_corpus, write_corpus

    sessions = support_corpus([3, 1, 4, 1, 5])
    tool_only = sessions[1].model_copy(update={"id": "tools", "source": sessions[1].source
                                               .model_copy(update={"type": "tool_only"})})
    dup = sessions[2]  # the same id twice: both kept, in order, as sessions_of does
    path = write_corpus(str(tmp_path / "c" / "rec.cassette"), [*sessions, tool_only, dup])
    corpus = Corpus(path)
    every: list[Session] = list(sessions_of(corpus))
    ids = [s.id for s in sessions] + ["tools", "absent"]
    for pick in ([], ids, ids[::2], ids[1::2], ids[-3:]):
        want = [s for s in every if s.id in set(pick)]
        got = list(shard_sessions(corpus, set(pick)))
        assert [s.model_dump() for s in got] == [s.model_dump() for s in want]
    assert "tools" not in {s.id for s in shard_sessions(corpus, set(ids))}


def test_workers_are_not_part_of_the_run_identity():
    a = make_config("c", "o", "http://x/v1")
    assert a.identity("h") == make_config("c", "o", "http://x/v1", workers=3).identity("h")
    assert json.dumps(a.identity("h"))  # still plain JSON


def test_the_cache_is_created_in_wal_mode_before_the_workers_open_it(tmp_path):
    import sqlite3

    from replayer.replay import create_cache

    config = make_config("c", str(tmp_path / "run"), "http://x/v1", workers=2)
    create_cache(config)
    db = sqlite3.connect(config.cache_path())
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ("responses",) in db.execute("SELECT name FROM sqlite_master").fetchall()
    finally:
        db.close()
    create_cache(config.model_copy(update={"cache": False, "out": str(tmp_path / "b")}))
    assert not (tmp_path / "b").exists()


async def test_an_unreadable_message_fails_the_run_instead_of_hanging():
    import multiprocessing

    from replayer.processes import WorkerPool, _Worker

    pool = WorkerPool(2, make_config("c", "o", "http://x/v1", workers=2))
    ours, theirs = multiprocessing.Pipe()
    pool.workers = [_Worker(0, ours)]
    theirs.send_bytes(b"not a pickle")
    try:
        with pytest.raises(WorkerFailed, match="could not be read"):
            await asyncio.wait_for(pool.ready(), 10)
    finally:
        pool.close()
        theirs.close()


def test_the_module_the_cli_starts_workers_with_stays_light():
    # the CLI imports it to start the workers before its own heavy imports
    code = ("import sys, replayer.processes; "
            "print(sorted(m for m in ('aiohttp', 'replayer.shard', 'stubs.engine', "
            "'replayer.replay', 'rich.progress') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"

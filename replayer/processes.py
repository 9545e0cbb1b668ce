"""Local worker processes: `deploysim replay --executor local --workers N`.

One replaying process is CPU-bound long before a fast endpoint is: its event loop, HTTP client,
request building and record writing share one core. With N workers the pending work is split
as for Ray (`replayer.executor.split`: whole sessions, balanced, concurrency and rate limits
divided), and each worker process runs `run_shard` on its share, writing its own cassettes
into RUN_DIR (`trajectories-localNN-*.cassette`), so the output is the same set of
trajectories as with one process, and `scan` and resume read it the same way.

Lifecycle (`WorkerPool`):

1. `start()` at the very beginning of `replay()`: worker 0 is spawned (a fresh interpreter:
   nothing of the parent's running event loop or threads is inherited). It imports deploysim,
   builds the tool answerer (the stub engine's index) and then forks workers 1..N-1, which
   inherit both — so the imports and the index are paid once, not N times — while the parent
   scans the corpus and selects sessions. Worker 0 sends back its answerer's description for
   the manifest, so the parent builds no answerer at all.
2. `run()` sends each worker its shard; each reads only its own sessions, streams progress in
   batches (one message per `PROGRESS_S`, not one per trajectory) and finally its
   `ShardReport`.
3. `close()`, always: workers still running get SIGTERM (each cancels its loop, so its
   cassettes and response cache are closed properly), and SIGKILL after `GRACE_S`.

Forking happens only in worker 0 while it is single-threaded (its watch thread starts after
the forks). An answerer that uses threads or connections of its own (the tool simulator's
client and cache) is not shared: then workers are forked first and each builds its own.
Workers ignore SIGINT — Ctrl-C reaches the whole process group, and the parent decides how to
stop — and exit when the parent dies, even by SIGKILL: a thread reads the parent's sentinel
pipe until EOF, and on Linux `PR_SET_PDEATHSIG` backs it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from recorder.aio import run as aio_run
from recorder.corpus import Corpus
from recorder.errors import DeploysimError
from replayer.clients.accounting import Accounting
from replayer.config import ReplayConfig
from replayer.errors import ReplayConfigError
from replayer.prefix import WorkKey
from replayer.shard import (
    AnswererFactory,
    ClientFactory,
    SessionTurns,
    ShardReport,
    of_shard,
    read_sessions,
    run_shard,
)
from replayer.trajectory import Trajectory

PROGRESS_S = 0.2
"""How often a worker reports progress (a message per trajectory would cost more than it)."""

GRACE_S = 10.0
"""How long a stopped worker may take to close its files before it is killed."""


class WorkerFailed(DeploysimError):
    """A worker process died or failed before finishing its shard (the run is resumable)."""


@dataclass(frozen=True)
class WorkerStart:
    """What the workers get when they start (before the parent knows the pending work)."""

    config: ReplayConfig
    answerer: AnswererFactory
    client_factory: ClientFactory | None


@dataclass(frozen=True)
class ShardJob:
    """One worker's share of the run."""

    config: ReplayConfig
    shard: str
    run_id: str
    pending: set[WorkKey]


@dataclass
class _Worker:
    index: int
    conn: Connection
    pid: int | None = None
    ready: bool = False
    finished: bool = False
    """The worker sent its report (or had nothing to do)."""
    done: int = 0
    errors: int = 0
    tokens: int = 0
    cost: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class WorkerPool:
    """N replay worker processes (see the module docstring).

    >>> pool = WorkerPool(2, config, default_answerer, None)             # doctest: +SKIP
    >>> pool.start(); info = await pool.ready()                          # doctest: +SKIP
    >>> reports = await pool.run(run_id, shards, shard_config, update)  # doctest: +SKIP
    >>> pool.close()                                                     # doctest: +SKIP
    """

    def __init__(self, n: int, config: ReplayConfig, answerer: AnswererFactory,
                 client_factory: ClientFactory | None) -> None:
        if not hasattr(os, "fork"):
            raise ReplayConfigError("--workers above 1 needs a system with fork (Linux, "
                                    "macOS); use --workers 1 or --executor ray here.")
        self.n = n
        self.start_info = WorkerStart(config, answerer, client_factory)
        self.workers: list[_Worker] = []
        self.process: multiprocessing.process.BaseProcess | None = None
        self._inbox: asyncio.Queue[tuple[_Worker, str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn worker 0 (it forks the others); returns at once."""
        ctx = multiprocessing.get_context("spawn")
        ends = [ctx.Pipe() for _ in range(self.n)]
        self.process = ctx.Process(target=first_worker_main,
                                   args=([theirs for _ours, theirs in ends], self.start_info),
                                   name="deploysim-replay-worker-0", daemon=True)
        self.process.start()
        for i, (ours, theirs) in enumerate(ends):
            theirs.close()  # the workers hold the only other ends: EOF means one is gone
            self.workers.append(_Worker(i, ours))

    async def ready(self) -> dict[str, Any]:
        """Wait until every worker has its answerer; worker 0's answerer description."""
        self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        for w in self.workers:
            self._loop.add_reader(w.conn.fileno(), self._readable, w)
        while not all(w.ready for w in self.workers):
            await self._next(starting=True)
        return self.workers[0].info

    def _readable(self, w: _Worker) -> None:
        assert self._inbox is not None and self._loop is not None
        try:
            while w.conn.poll():
                kind, payload = w.conn.recv()
                self._inbox.put_nowait((w, kind, payload))
        except (EOFError, OSError):
            self._loop.remove_reader(w.conn.fileno())
            self._inbox.put_nowait((w, "eof", None))

    async def _next(self, *, starting: bool = False) -> tuple[_Worker, str, Any]:
        """The next message; raises what a worker sent, or WorkerFailed if one died early."""
        assert self._inbox is not None
        w, kind, payload = await self._inbox.get()
        if kind == "ready":
            w.ready, w.pid, w.info = True, payload["pid"], payload["info"]
        elif kind == "error":
            w.finished = True
            raise payload if isinstance(payload, BaseException) else WorkerFailed(str(payload))
        elif kind == "eof" and not w.finished:
            who = f"Replay worker {w.index + 1} of {self.n}" + (f" (pid {w.pid})" if w.pid
                                                                 else "")
            how = self._how(w)
            if starting:
                raise WorkerFailed(f"{who} {how} while starting, before anything ran (its "
                                   "error, if any, is above); a program that calls replay() "
                                   "with workers must guard its main module with `if "
                                   "__name__ == '__main__':`.")
            raise WorkerFailed(f"{who} {how} before finishing its shard; the run is marked "
                               "interrupted, and rerunning the same command finishes what is "
                               "missing.")
        return w, kind, payload

    def _how(self, w: _Worker) -> str:
        if w.index != 0 or self.process is None:  # forked by worker 0: its status is not ours
            return "stopped"
        self.process.join(1.0)
        code = self.process.exitcode
        if code is None:
            return "stopped answering"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    # -- running -----------------------------------------------------------------------------

    async def run(self, run_id: str, shards: list[set[WorkKey]], config: ReplayConfig,
                  on_progress: Callable[[int, int, int, float], None]) -> list[ShardReport]:
        """Run shard i on worker i (workers beyond the shards stop); their reports, in order.

        `on_progress(done, errors, tokens, cost)` gets the totals over all workers."""
        for w in self.workers:
            keys = shards[w.index] if w.index < len(shards) else None
            job = ShardJob(config, f"local{w.index:02d}", run_id, keys) if keys else None
            w.conn.send(job)
            w.finished = job is None
        reports: dict[int, ShardReport] = {}
        while len(reports) < len(shards):
            w, kind, payload = await self._next()
            if kind == "progress":
                done, errors, w.tokens, w.cost = payload
                w.done += done
                w.errors += errors
            elif kind == "report":
                w.finished = True
                reports[w.index] = payload
                w.done, w.errors = payload.written, payload.errors
            else:
                continue
            on_progress(sum(x.done for x in self.workers), sum(x.errors for x in self.workers),
                        sum(x.tokens for x in self.workers),
                        sum(x.cost for x in self.workers))
        return [reports[i] for i in sorted(reports)]

    # -- stopping ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop whatever still runs (SIGTERM, then SIGKILL after GRACE_S) and reap it."""
        for w in self.workers:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.conn.fileno())
            if not w.finished:
                self._signal(w, signal.SIGTERM)
        if self.process is not None:
            # worker 0 exits after reaping the workers it forked
            self.process.join(GRACE_S)
            if self.process.is_alive():
                for w in self.workers:
                    self._signal(w, signal.SIGKILL)
                self.process.join()
        for w in self.workers:
            w.conn.close()

    def _signal(self, w: _Worker, sig: signal.Signals) -> None:
        # a fork's pid is None until it is ready: then stopping worker 0 stops it too
        pid = self.process.pid if w.index == 0 and self.process is not None else w.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


# -- the worker side -----------------------------------------------------------------------


def first_worker_main(conns: list[Connection], start: WorkerStart) -> None:
    """Worker 0: read the sessions and build what can be shared, fork workers 1..N-1, then be
    worker 0."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent decides (close())
    _set_pdeathsig()
    config = start.config
    shared: Any = None
    kept: list[SessionTurns] | None = None
    try:
        corpus = Corpus(config.corpus)
        kept = read_sessions(corpus)
        if not config.tool_simulator:  # the simulator's client and cache must not be shared
            shared = start.answerer(corpus, config)
    except BaseException as exc:  # reported as worker 0's error once it runs
        shared = exc
    # what every worker inherits is never garbage: keep the collector off it (and the pages
    # it sits in unwritten, so they stay shared between the workers)
    gc.freeze()
    children: list[int] = []
    if threading.active_count() == 1 and not isinstance(shared, BaseException):
        for i in range(1, len(conns)):
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                for j, other in enumerate(conns):
                    if j != i:
                        other.close()
                _set_pdeathsig()
                code = _worker(conns[i], start, shared, kept)
                sys.stderr.flush()
                os._exit(code)  # never the parent's clean-up (it belongs to worker 0)
            children.append(pid)
        for other in conns[1:]:
            other.close()
    try:
        if isinstance(shared, BaseException):
            raise shared
        if threading.active_count() != 1:  # cannot fork safely: fail rather than hang
            raise WorkerFailed("The tool answerer started threads while being built, so the "
                               "replay workers cannot be forked from it; use --workers 1.")
        _worker(conns[0], start, shared, kept, describe=True)
    except BaseException as exc:
        _send(conns[0], ("error", _portable(exc)))
    finally:
        for pid in children:  # no zombies, no orphans
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _worker(conn: Connection, start: WorkerStart, shared: Any,
            kept: list[SessionTurns] | None, *, describe: bool = False) -> int:
    """One worker's life after start-up (`shared`: the answerer, if built already; `kept`:
    the corpus's sessions, if read already); its exit code."""
    _watch_parent()
    try:
        config = start.config
        answerer = shared if shared is not None else start.answerer(Corpus(config.corpus),
                                                                    config)
        about = getattr(answerer, "describe", None)
        info = dict(about()) if describe and callable(about) else {}
        conn.send(("ready", {"pid": os.getpid(), "info": info}))
        job: ShardJob | None = conn.recv()
        if job is None:
            return 0
        sessions = of_shard(kept, job.pending) if kept is not None else None
        del kept
        report = aio_run(_run_job(job, answerer, start.client_factory, conn, sessions))
        conn.send(("report", report))
        return 0
    except BaseException as exc:  # the parent raises it (or, if it is gone, nobody needs it)
        _send(conn, ("error", _portable(exc)))
        return 1


def _send(conn: Connection, message: tuple[str, Any]) -> None:
    with contextlib.suppress(Exception):
        conn.send(message)


async def _run_job(job: ShardJob, answerer: Any, client_factory: ClientFactory | None,
                   conn: Connection, sessions: list[SessionTurns] | None) -> ShardReport:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    batch = {"done": 0, "errors": 0, "sent": time.monotonic()}

    def send(acc: Accounting) -> None:
        conn.send(("progress", (batch["done"], batch["errors"], acc.tokens, acc.cost_usd)))
        batch.update(done=0, errors=0, sent=time.monotonic())

    def done(traj: Trajectory, acc: Accounting) -> None:
        batch["done"] += 1
        batch["errors"] += len(traj.errors)
        if time.monotonic() - batch["sent"] >= PROGRESS_S:
            send(acc)

    return await run_shard(job.config, shard=job.shard, run_id=job.run_id, pending=job.pending,
                           answerer=answerer, on_done=done, client_factory=client_factory,
                           sessions=sessions)


def _portable(exc: BaseException) -> BaseException:
    """The error as the parent should raise it: a user-facing error as is (if it pickles),
    anything else as WorkerFailed naming it (its traceback goes to this worker's stderr)."""
    if isinstance(exc, DeploysimError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:
            return WorkerFailed(str(exc))
    if isinstance(exc, asyncio.CancelledError):
        return WorkerFailed("A replay worker was stopped before finishing its shard; the run is "
                            "marked interrupted, and rerunning the same command finishes it.")
    traceback.print_exception(exc, file=sys.stderr)
    return WorkerFailed(f"A replay worker failed with {type(exc).__name__}: {exc}; the run is "
                        "marked interrupted (rerun the same command to finish it; the worker's "
                        "traceback is above).")


def _set_pdeathsig() -> None:
    """SIGTERM when the process that started this one exits (Linux; cleared by fork, so each
    forked worker sets its own, tied to worker 0, which outlives them)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _watch_parent() -> None:
    """Stop when the replaying parent dies, however it dies (no orphan keeps replaying)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        # the parent holds the pipe's write end until it exits: read to EOF (the pipe may
        # still hold start-up bytes, so "readable" alone would not mean "gone")
        with contextlib.suppress(OSError):
            while os.read(sentinel, 1 << 16):
                pass
        os.kill(os.getpid(), signal.SIGTERM)  # stop as on close(): cassettes closed properly
        time.sleep(GRACE_S)
        os._exit(1)

    threading.Thread(target=watch, name="deploysim-parent-watch", daemon=True).start()

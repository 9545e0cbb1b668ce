"""Local worker processes: `deploysim replay --executor local --workers N`.

One replaying process is CPU-bound long before a fast endpoint is: its event loop, HTTP client,
request building and record writing share one core. With N workers the pending work is split
as for Ray (`replayer.executor.split`: whole sessions, balanced, concurrency and rate limits
divided), and each worker process runs `run_shard` on its share, writing its own cassettes
into RUN_DIR (`trajectories-localNN-*.cassette`), so the output is the same set of
trajectories as with one process, and `scan` and resume read it the same way.

Lifecycle (`WorkerPool`):

1. `start()` at the very beginning of `replay()`: the processes are created on a background
   thread (creating them blocks), so their start-up — interpreter, imports, the tool answerer
   (the stub engine index) — overlaps the parent's selection and manifest work. Worker 0 sends
   back its answerer's description for the manifest, so the parent does not build one.
2. `run()` sends each worker its shard; workers stream progress in batches (one message per
   `PROGRESS_S`, not one per trajectory) and finally their `ShardReport`.
3. `close()`, always: workers still running are sent SIGTERM (each cancels its loop, so its
   cassettes and response cache are closed properly), and killed after `GRACE_S`.

Processes start with forkserver (a clean server process, started once, that has preloaded
deploysim, forks each worker: safe although the parent runs an event loop and threads, and the
imports are paid once), or spawn where forkserver does not exist. Workers ignore SIGINT —
Ctrl-C reaches the whole process group, and the parent decides how to stop — and they exit
when the parent dies, even by SIGKILL: a thread watches the parent's sentinel pipe, and on
Linux `PR_SET_PDEATHSIG` backs it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from recorder.aio import run as aio_run
from recorder.corpus import Corpus
from recorder.errors import DeploysimError
from replayer.clients.accounting import Accounting
from replayer.config import ReplayConfig
from replayer.prefix import WorkKey
from replayer.shard import AnswererFactory, ClientFactory, ShardReport, run_shard
from replayer.trajectory import Trajectory

PROGRESS_S = 0.2
"""How often a worker reports progress (a message per trajectory would cost more than it)."""

GRACE_S = 10.0
"""How long a stopped worker may take to close its files before it is killed."""

PRELOAD = ["__main__", "replayer.processes", "replayer.replay", "stubs.engine"]
"""What the forkserver imports once for every worker it forks."""


class WorkerFailed(DeploysimError):
    """A worker process died or failed before finishing its shard (the run is resumable)."""


@dataclass(frozen=True)
class WorkerStart:
    """What a worker gets when it starts (before the parent knows the pending work)."""

    config: ReplayConfig
    answerer: AnswererFactory
    client_factory: ClientFactory | None
    describe: bool
    """Send the answerer's description back (worker 0 does, for the manifest)."""
    pdeathsig: bool
    """Ask the kernel for SIGTERM when the forking thread dies: right when a forkserver (which
    lives exactly as long as the parent) forked the worker, wrong for spawn, where the
    forking thread is the parent's short-lived starter thread."""


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
    process: BaseProcess
    conn: Connection
    ready: bool = False
    finished: bool = False
    """The worker sent its report (or had nothing to do)."""
    done: int = 0
    errors: int = 0
    tokens: int = 0
    cost: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def context() -> ForkServerContext | SpawnContext:
    """forkserver (preloading deploysim) where available, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


class WorkerPool:
    """N replay worker processes (see the module docstring).

    >>> pool = WorkerPool(2, config, default_answerer, None)          # doctest: +SKIP
    >>> pool.start(); info = await pool.ready()                       # doctest: +SKIP
    >>> reports = await pool.run(run_id, shards, shard_config, progress)  # doctest: +SKIP
    >>> pool.close()                                                  # doctest: +SKIP
    """

    def __init__(self, n: int, config: ReplayConfig, answerer: AnswererFactory,
                 client_factory: ClientFactory | None) -> None:
        self.n = n
        self.config = config
        self.answerer = answerer
        self.client_factory = client_factory
        self.workers: list[_Worker] = []
        self._started: Future[None] = Future()
        self._thread: threading.Thread | None = None
        self._inbox: asyncio.Queue[tuple[_Worker, str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the processes on a background thread (returns at once)."""
        self._thread = threading.Thread(target=self._start_all, name="deploysim-replay-workers",
                                        daemon=True)
        self._thread.start()

    def _start_all(self) -> None:
        try:
            ctx = context()
            forkserver = ctx.get_start_method() == "forkserver"
            for i in range(self.n):
                ours, theirs = ctx.Pipe()
                start = WorkerStart(self.config, self.answerer, self.client_factory,
                                    describe=i == 0, pdeathsig=forkserver)
                process = ctx.Process(target=worker_main, args=(theirs, start),
                                      name=f"deploysim-replay-worker-{i}", daemon=True)
                process.start()
                theirs.close()  # the worker holds the only other end: EOF means it is gone
                self.workers.append(_Worker(i, process, ours))
            self._started.set_result(None)
        except BaseException as exc:  # surfaced by ready()
            self._started.set_exception(exc)

    async def ready(self) -> dict[str, Any]:
        """Wait until every worker has built its answerer; worker 0's answerer description."""
        await asyncio.wrap_future(self._started)
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
            w.ready, w.info = True, payload or {}
        elif kind == "error":
            w.finished = True
            raise payload if isinstance(payload, BaseException) else WorkerFailed(str(payload))
        elif kind == "eof" and not w.finished:
            w.process.join(1.0)
            who = f"Replay worker {w.index + 1} of {self.n} (pid {w.process.pid})"
            how = _how(w.process.exitcode)
            if starting:
                raise WorkerFailed(f"{who} {how} while starting, before anything ran (its "
                                   "error, if any, is above); the main module of a program "
                                   "that calls replay() with workers must be guarded by "
                                   "`if __name__ == '__main__':`.")
            raise WorkerFailed(f"{who} {how} before finishing its shard; the run is marked "
                               "interrupted, and rerunning the same command finishes what is "
                               "missing.")
        return w, kind, payload

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
        if self._thread is not None:
            self._thread.join()
        for w in self.workers:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.conn.fileno())
            if w.process.is_alive() and not w.finished:
                w.process.terminate()
        deadline = time.monotonic() + GRACE_S
        for w in self.workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()


def _how(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# -- the worker side -----------------------------------------------------------------------


def worker_main(conn: Connection, start: WorkerStart) -> None:
    """A worker process: build the answerer, report ready, run the shard it is given."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent decides (close())
    _die_with_parent(start.pdeathsig)
    try:
        config = start.config
        answerer = start.answerer(Corpus(config.corpus), config)
        describe = getattr(answerer, "describe", None)
        info = dict(describe()) if start.describe and callable(describe) else {}
        conn.send(("ready", info))
        job: ShardJob | None = conn.recv()
        if job is None:
            return
        report = aio_run(_run_job(job, answerer, start.client_factory, conn))
        conn.send(("report", report))
    except BaseException as exc:  # the parent raises it (or, if it is gone, nobody needs it)
        with contextlib.suppress(Exception):
            conn.send(("error", _portable(exc)))


async def _run_job(job: ShardJob, answerer: Any, client_factory: ClientFactory | None,
                   conn: Connection) -> ShardReport:
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
                           answerer=answerer, on_done=done, client_factory=client_factory)


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


def _die_with_parent(pdeathsig: bool) -> None:
    """Exit when the parent process dies, however it dies (no orphan keeps replaying)."""
    if pdeathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
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

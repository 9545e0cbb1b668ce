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
   batches (one message per `replayer.worker.PROGRESS_S`, not one per trajectory) and its
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
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from recorder.errors import DeploysimError
from replayer.config import ReplayConfig
from replayer.errors import ReplayConfigError

if TYPE_CHECKING:  # this module stays light: the CLI starts the workers before heavy imports
    from replayer.prefix import WorkKey
    from replayer.shard import AnswererFactory, ClientFactory, ShardReport

GRACE_S = 10.0
"""How long a stopped worker may take to close its files before it is killed."""


class WorkerFailed(DeploysimError):
    """A worker process died or failed before finishing its shard (the run is resumable)."""


@dataclass(frozen=True)
class WorkerStart:
    """What the workers get when they start (before the parent knows the pending work)."""

    config: ReplayConfig
    answerer: AnswererFactory | None
    """None: the stub engine (`replayer.answerer.default_answerer`), resolved in the worker."""
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
    gone: bool = False
    """Its end of the pipe closed: it has exited, and its pid may already be reaped (and so
    free for another process to get): it is never signalled again."""
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

    def __init__(self, n: int, config: ReplayConfig, answerer: AnswererFactory | None = None,
                 client_factory: ClientFactory | None = None) -> None:
        if not hasattr(os, "fork"):
            raise ReplayConfigError("--workers above 1 needs a system with fork (Linux, "
                                    "macOS); use --workers 1 or --executor ray here.")
        self.n = n
        self.start_info = WorkerStart(config, answerer, client_factory)
        self.workers: list[_Worker] = []
        self.process: multiprocessing.process.BaseProcess | None = None
        self._inbox: asyncio.Queue[tuple[_Worker, str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn worker 0 (it forks the others); returns at once."""
        ctx = multiprocessing.get_context("spawn")
        ends = [ctx.Pipe() for _ in range(self.n)]
        self.process = ctx.Process(target=_first_worker,
                                   args=([theirs for _ours, theirs in ends], self.start_info),
                                   name="deploysim-replay-worker-0", daemon=True)
        with _main_module_unless_needed(self.start_info), _sigint_blocked():
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
            w.gone = True
            self._loop.remove_reader(w.conn.fileno())
            self._inbox.put_nowait((w, "eof", None))
        except Exception as exc:  # a message that does not unpickle: never hang on it
            self._loop.remove_reader(w.conn.fileno())
            self._inbox.put_nowait((w, "error", WorkerFailed(
                f"A message from replay worker {w.index + 1} of {self.n} could not be read "
                f"({type(exc).__name__}: {exc}); the run is marked interrupted, and rerunning "
                "the same command finishes what is missing.")))

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
            w = self._culprit(w)
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

    def _culprit(self, w: _Worker) -> _Worker:
        """The worker to blame for `w` going away: worker 0 if it died (its forks die with
        it, and may well be noticed first)."""
        if w.index != 0 and self.process is not None:
            self.process.join(0.5)
            if self.process.exitcode is not None and not self.workers[0].finished:
                return self.workers[0]
        return w

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
            try:
                w.conn.send(job)
            except OSError:  # it died between starting and now (a broken pipe)
                raise WorkerFailed(
                    f"Replay worker {w.index + 1} of {self.n} stopped before it was given its "
                    "shard; the run is marked interrupted, and rerunning the same command "
                    "finishes what is missing.") from None
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
        """Stop whatever still runs (SIGTERM, then SIGKILL after GRACE_S) and reap it
        (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for w in self.workers:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.conn.fileno())
            if not w.finished:
                self._signal(w, signal.SIGTERM)
        # closed before waiting: a fork not yet known to be ready (no pid to signal) is
        # waiting for its job, and the end of its pipe is what stops it; worker 0 waits for it
        for w in self.workers:
            w.conn.close()
        if self.process is not None:
            # worker 0 exits after reaping the workers it forked
            self.process.join(GRACE_S)
            if self.process.is_alive():
                for w in self.workers:
                    self._signal(w, signal.SIGKILL)
                self.process.join()

    def _signal(self, w: _Worker, sig: signal.Signals) -> None:
        # a fork's pid is None until it is ready: then stopping worker 0 stops it too. A fork
        # whose pipe closed is not signalled: worker 0 may have reaped it, and its pid may
        # belong to another process by now (worker 0 is our own child: its pid is ours to
        # signal until we join it)
        if w.gone and w.index != 0:
            return
        pid = self.process.pid if w.index == 0 and self.process is not None else w.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


@contextlib.contextmanager
def _main_module_unless_needed(start: WorkerStart) -> Iterator[None]:
    """Spawn imports the parent's main module in the child, in case what it is sent refers to
    it; for `deploysim replay` that is the whole CLI (~0.25 s of CPU in worker 0, on the
    critical path of its start-up). When nothing sent names `__main__`, the child is shown a
    bare main module instead, for the instant of the spawn (this thread only reads it)."""
    if b"__main__" in pickle.dumps(start):
        yield
        return
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Spawn worker 0 with SIGINT ignored — a disposition that survives exec and fork — so
    Ctrl-C at a terminal, which signals the whole process group, never interrupts a worker, not
    even while it is still importing (the parent stops the workers itself, in close()). SIGINT
    is blocked in this thread meanwhile, so a Ctrl-C in that instant stays pending (Linux keeps
    blocked signals even when ignored) and reaches the restored handler. Handlers can only be
    set from the main thread; elsewhere the worker ignores SIGINT from its first line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _first_worker(conns: list[Connection], start: WorkerStart) -> None:
    """Worker 0's entry point (the worker side lives in `replayer.worker`, with its imports)."""
    from replayer.worker import first_worker_main

    first_worker_main(conns, start)

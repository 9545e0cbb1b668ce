"""The worker side of `replayer.processes`: worker 0 reads and builds what can be shared, forks
the other workers, and each runs its shard (see `replayer.processes` for the whole picture)."""

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
from multiprocessing.connection import Connection
from typing import Any

from recorder.aio import run as aio_run
from recorder.corpus import Corpus
from recorder.errors import DeploysimError
from replayer.answerer import description
from replayer.clients import Accounting
from replayer.processes import GRACE_S, ShardJob, WorkerFailed, WorkerStart
from replayer.shard import (
    AnswererFactory,
    BatchedProgress,
    ClientFactory,
    SessionTurns,
    ShardReport,
    of_shard,
    read_sessions,
    run_shard,
)

PROGRESS_S = 0.2
"""How often a worker reports progress (a message per trajectory would cost more than it)."""


def _factory(start: WorkerStart) -> AnswererFactory:
    if start.answerer is not None:
        return start.answerer
    from replayer.answerer import default_answerer

    return default_answerer


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
            shared = _factory(start)(corpus, config)
    except BaseException as exc:  # reported as worker 0's error once it runs
        shared = exc
    # what every worker inherits is never garbage: keep the collector off it (and the pages
    # it sits in unwritten, so they stay shared between the workers)
    gc.freeze()
    children: list[int] = []
    code = 1
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
        code = _worker(conns[0], start, shared, kept, describe=True)
    except BaseException as exc:
        _send(conns[0], ("error", _portable(exc)))
        code = 1
    finally:
        for pid in children:  # no zombies, no orphans
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    # everything is sent and closed: skip the interpreter's tear-down of the sessions, the
    # stub index and every module (a few hundred ms the parent would wait for in close())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _worker(conn: Connection, start: WorkerStart, shared: Any,
            kept: list[SessionTurns] | None, *, describe: bool = False) -> int:
    """One worker's life after start-up (`shared`: the answerer, if built already; `kept`:
    the corpus's sessions, if read already); its exit code."""
    _watch_parent()
    try:
        config = start.config
        answerer = shared if shared is not None else _factory(start)(Corpus(config.corpus),
                                                                     config)
        info = description(answerer) if describe else {}
        conn.send(("ready", {"pid": os.getpid(), "info": info}))
        job: ShardJob | None = conn.recv()
        if job is None:
            return 0
        sessions = of_shard(kept, job.pending) if kept is not None else None
        report = aio_run(_run_job(job, answerer, start.client_factory, conn, sessions))
        conn.send(("report", report))
        return 0
    except asyncio.CancelledError:  # told to stop (SIGTERM): by the parent, or worker 0 died
        return 1
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
    done = BatchedProgress(lambda n, errors, acc: conn.send(
        ("progress", (n, errors, acc.tokens, acc.cost_usd))), PROGRESS_S)
    report = await run_shard(job.config, shard=job.shard, run_id=job.run_id,
                             pending=job.pending, answerer=answerer, on_done=done,
                             client_factory=client_factory, sessions=sessions)
    done.flush(Accounting(**report.accounting))  # the last batch, with the final tokens
    return report


def _portable(exc: BaseException) -> BaseException:
    """The error as the parent should raise it: a user-facing error as is (if it pickles),
    anything else as WorkerFailed naming it (its traceback goes to this worker's stderr)."""
    if isinstance(exc, DeploysimError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:
            return WorkerFailed(str(exc))
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

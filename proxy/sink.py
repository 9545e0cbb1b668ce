"""The recording sink: a bounded queue in front of a cassette writer running off the event loop.

The request path only enqueues a `Capture` (O(1); never waits under the default policy). The
writer (`proxy.record_writer.RecordWriter`) builds the `Exchange`, redacts it and appends it.
Where the writer runs is the `isolation`:

- `process` (default for `deploysim record`): a separate writer process. Redaction is regex
  work that holds the GIL for milliseconds per exchange; in a thread it would stall the event
  loop and show up as tail latency and lost throughput. In its own process it uses another
  core and cannot slow the traffic at all. If the proxy is killed, the writer notices, writes
  what is already queued and closes its cassette.
- `thread`: a writer thread in this process (cheaper to start; tests, light traffic, or a
  custom redactor object).

Nothing that goes wrong on the writer side (a full disk, an unwritable directory, a redaction
or parsing bug, a dead writer process) reaches the traffic: each failure is counted by kind in
`Metrics` and logged once. A full queue is counted as `dropped` (policy `drop`, the default)
or makes the request path wait for room (policy `block`).

>>> sink = RecordingSink("out/", metrics=Metrics())          # doctest: +SKIP
>>> sink.start()
>>> await sink.put(capture)        # from the event loop
>>> await sink.aclose()            # drain, derive sessions, close
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from proxy.capture import Capture
from proxy.errors import BadOutDir, ProxyError
from proxy.metrics import Metrics
from proxy.record_writer import RecordWriter, Redactor, WriterSettings, load_redactor
from recorder import storage
from recorder.errors import UsageError
from recorder.writer import Durability

log = logging.getLogger("deploysim.proxy")

QueuePolicy = Literal["drop", "block"]
Isolation = Literal["process", "thread"]
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_ROTATE_BYTES = 256 * 1024 * 1024
SHIP_BATCH = 256
"""Most captures sent to the writer process in one pipe write."""

__all__ = ["DEFAULT_QUEUE_SIZE", "DEFAULT_ROTATE_BYTES", "Isolation", "QueuePolicy",
           "RecordingSink", "Redactor", "Sink", "load_redactor"]


class Sink(Protocol):
    """Where a proxy hands finished exchanges. `put` must never raise."""

    async def put(self, capture: Capture) -> None: ...


class _MetricsReporter:
    """Applies writer reports to the proxy's metrics (writer thread or event thread)."""

    def __init__(self, metrics: Metrics, paths: list[str]) -> None:
        self.metrics = metrics
        self.paths = paths

    def recorded(self) -> None:
        self.metrics.recorded += 1

    def error(self, kind: str, detail: str) -> None:
        self.metrics.count_record_error(kind, detail)

    def opened(self, path: str) -> None:
        if path not in self.paths:
            self.paths.append(path)


class RecordingSink:
    """Bounded queue → writer (thread or process) → cassettes in `out_dir`.

    Redaction is on by default (default rules plus `redact_rules`, key from the deploysim
    config); `redactor` injects a ready redactor object and needs `isolation="thread"`.
    `derive_sessions` appends derived sessions on a clean close. `writer_niceness` lowers
    the writer process's CPU priority (traffic first; 0 for equal footing).
    """

    def __init__(
        self,
        out_dir: str,
        *,
        metrics: Metrics | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        policy: QueuePolicy = "drop",
        isolation: Isolation = "process",
        redact: bool = True,
        redact_rules: str | None = None,
        redactor: Redactor | None = None,
        durability: Durability = "interval",
        rotate_bytes: int | None = DEFAULT_ROTATE_BYTES,
        producer: str = "deploysim record",
        meta: dict[str, Any] | None = None,
        derive_sessions: bool = True,
        prefix: str = "record",
        writer_niceness: int = 10,
    ) -> None:
        if redactor is not None and isolation != "thread":
            raise UsageError("A redactor object can only be used with isolation='thread'; the "
                             "writer process builds its own from redact_rules.")
        self.out_dir = out_dir
        self.metrics = metrics or Metrics()
        self.queue_size = queue_size
        self.policy = policy
        self.isolation = isolation
        self.redact = redact
        self.redact_rules = redact_rules
        self.redactor = redactor
        self.run_id = _run_id()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self._settings = WriterSettings(
            base=storage.join(out_dir, f"{prefix}-{stamp}-{self.run_id}"), run_id=self.run_id,
            producer=producer, meta=dict(meta or {}), durability=durability,
            rotate_bytes=rotate_bytes, derive_sessions=derive_sessions,
            redact=redact, redact_rules=redact_rules, niceness=writer_niceness,
        )
        self.paths: list[str] = []
        """Every cassette file written to, in order."""
        self.sessions_written = 0
        self._queue: Any = None
        self._backend: _ThreadBackend | _ProcessBackend | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Check the output directory and the redaction config, then start the writer."""
        _check_writable(self.out_dir)
        settings = self._settings
        if self.redact and self.redactor is None:
            from recorder.redact_key import resolve_key

            # fail now, with the config's own message, rather than in the writer later
            key = resolve_key()
            load_redactor(self.redact_rules, key)
            settings = dataclasses.replace(settings, redact_key=key)
        reporter = _MetricsReporter(self.metrics, self.paths)
        if self.isolation == "thread":
            backend: _ThreadBackend | _ProcessBackend = _ThreadBackend(
                settings, reporter, self.redactor if self.redact else None, self.queue_size)
        else:
            backend = _ProcessBackend(settings, reporter, self.queue_size)
        backend.start()
        self._backend = backend
        self._queue = backend.queue
        self.metrics.queue_depth = _depth(backend.queue)

    async def aclose(self, stall_timeout: float = 60.0) -> None:
        """Drain the queue, derive sessions, close the cassette — without blocking the loop."""
        await asyncio.to_thread(self.close, stall_timeout)

    def close(self, stall_timeout: float = 60.0) -> None:
        """Drain the queue, derive and append sessions, close the cassette (idempotent).

        Waits as long as the writer makes progress: a backlog is written, not abandoned.
        Gives up only after `stall_timeout` seconds without any progress."""
        if self._closed or self._backend is None:
            self._closed = True
            return
        self._closed = True
        backend = self._backend
        if not backend.wait(self._progress, stall_timeout):
            log.error("the cassette writer made no progress for %ss; %d exchange(s) were not "
                      "written", stall_timeout, self.metrics.queue_depth())
        self.sessions_written = backend.finish()

    def _progress(self) -> tuple[int, int, int]:
        m = self.metrics
        return m.recorded, sum(m.record_errors.values()), m.queue_depth()

    # -- request side --------------------------------------------------------------------

    async def put(self, capture: Capture) -> None:
        """Queue an exchange for recording; never raises. See `policy` for a full queue."""
        if self.put_nowait(capture, count_drop=self.policy == "drop"):
            return
        if self.policy == "drop":
            return
        delay = 0.0005
        while not self._closed:  # `block`: wait for room without blocking the event loop
            await asyncio.sleep(delay)
            if self.put_nowait(capture, count_drop=False):
                return
            delay = min(delay * 2, 0.05)
        self.metrics.dropped += 1

    def put_nowait(self, capture: Capture, *, count_drop: bool = True) -> bool:
        """Queue an exchange from any thread without waiting; False when it was not queued."""
        backend = self._backend
        if backend is None or self._closed:
            if count_drop:
                self.metrics.dropped += 1
            return False
        if not backend.alive:
            self.metrics.count_record_error("writer_died", "the cassette writer stopped")
            return True  # counted as an error, not as a full queue: do not make anyone wait
        try:
            self._queue.put_nowait(capture)
            return True
        except queue.Full:
            if count_drop:
                self.metrics.dropped += 1
            return False


def _depth(q: Any) -> Any:
    def depth() -> int:
        with contextlib.suppress(NotImplementedError, OSError):
            return int(q.qsize())
        return 0

    return depth


class _ThreadBackend:
    """The writer on a thread of this process."""

    def __init__(self, settings: WriterSettings, reporter: _MetricsReporter,
                 redactor: Redactor | None, maxsize: int) -> None:
        self.queue: queue.Queue[Capture | None] = queue.Queue(maxsize=maxsize)
        self.alive = True
        self._writer = RecordWriter(settings, reporter, redactor=redactor)
        self._thread = threading.Thread(target=self._run, name="deploysim-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                self._writer.record(item)
        finally:
            self._writer.close()

    def wait(self, progress: Callable[[], object], stall_timeout: float) -> bool:
        if not _put_waiting(self.queue, progress, stall_timeout):
            return False
        return _wait_progress(lambda: not self._thread.is_alive(), progress, stall_timeout)

    def finish(self) -> int:
        self._thread.join(1)
        return self._writer.sessions_written


class _ProcessBackend:
    """The writer in a child process (`proxy.writer_process`), fed over a pipe.

    The bounded queue stays in this process; a shipper thread pickles each capture and writes
    it to the child's stdin (the write releases the GIL), a listener thread applies the
    child's reports to the metrics. The child is started with `python -m`, so nothing of the
    caller's `__main__` is re-imported.
    """

    def __init__(self, settings: WriterSettings, reporter: _MetricsReporter,
                 maxsize: int) -> None:
        self.queue: queue.Queue[Capture | None] = queue.Queue(maxsize=maxsize)
        self.settings = settings
        self._reporter = reporter
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._done = threading.Event()
        self._fatal: str | None = None
        self.sessions_written = 0
        self.alive = True

    def start(self) -> None:
        from proxy import writer_process

        root = os.path.dirname(os.path.dirname(os.path.abspath(writer_process.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "proxy.writer_process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self._proc.stdin is not None
        writer_process.write_frame(self._proc.stdin, self.settings)
        threading.Thread(target=self._listen, name="deploysim-writer-events",
                         daemon=True).start()
        if not self._ready.wait(60) or self._fatal is not None:
            self._proc.kill()
            raise ProxyError(f"The cassette writer process could not start "
                             f"({self._fatal or 'no answer within 60 s'}); check --out and "
                             "the redaction settings.")
        threading.Thread(target=self._ship, name="deploysim-writer-feed", daemon=True).start()

    def _ship(self) -> None:
        from proxy.writer_process import frame

        assert self._proc is not None and self._proc.stdin is not None
        pipe = self._proc.stdin
        while True:
            # take whatever has queued up and send it in one write: under load this thread
            # wakes (and takes the GIL) once per batch, not once per exchange
            batch = [self.queue.get()]
            while batch[-1] is not None and len(batch) < SHIP_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                pipe.write(b"".join(frame(item) for item in batch))
                pipe.flush()
            except (OSError, ValueError):
                self._died()
                return
            if batch[-1] is None:
                with contextlib.suppress(OSError):
                    pipe.close()
                return

    def _listen(self) -> None:
        from proxy.writer_process import read_frame

        assert self._proc is not None and self._proc.stdout is not None
        reporter = self._reporter
        while True:
            try:
                ok, event = read_frame(self._proc.stdout)
            except Exception:
                ok, event = False, None
            if not ok or event is None:
                self._died()
                self._ready.set()
                return
            kind = event[0]
            if kind == "recorded":
                for _ in range(event[1]):
                    reporter.recorded()
            elif kind == "error":
                reporter.error(event[1], event[2])
            elif kind == "opened":
                reporter.opened(event[1])
            elif kind == "ready":
                self._ready.set()
            elif kind == "fatal":
                self._fatal = event[1]
                self._ready.set()
            elif kind == "done":
                self.sessions_written = event[1]
                self._done.set()
                return

    def _died(self) -> None:
        if not self._done.is_set():
            self.alive = False
            code = self._proc.poll() if self._proc is not None else None
            self._reporter.error("writer_died", f"the cassette writer process stopped "
                                 f"(exit code {code})")
            self._done.set()

    def wait(self, progress: Callable[[], object], stall_timeout: float) -> bool:
        if self.alive and not _put_waiting(self.queue, progress, stall_timeout):
            return False
        return _wait_progress(self._done.is_set, progress, stall_timeout)

    def finish(self) -> int:
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                log.error("the cassette writer process did not exit; stopping it")
                self._proc.kill()
                self._proc.wait(5)
        return self.sessions_written


def _put_waiting(q: queue.Queue[Capture | None], progress: Callable[[], object],
                 stall_timeout: float) -> bool:
    """Put the stop marker, waiting for room while the writer makes progress."""
    last, since = progress(), time.monotonic()
    while True:
        try:
            q.put(None, timeout=0.5)
            return True
        except queue.Full:
            now = progress()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > stall_timeout:
                return False


def _wait_progress(done: Callable[[], bool], progress: Callable[[], object],
                   stall_timeout: float) -> bool:
    """Wait until `done()`, as long as `progress()` keeps changing."""
    last, since = progress(), time.monotonic()
    while not done():
        time.sleep(0.05)
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall_timeout:
            return False
    return True


def _check_writable(out_dir: str) -> None:
    try:
        storage.makedirs(out_dir)
        if not storage.is_url(out_dir):
            probe = os.path.join(out_dir, f".deploysim-probe-{os.getpid()}")
            with open(probe, "wb") as f:
                f.write(b"ok")
            os.remove(probe)
    except OSError as exc:
        raise BadOutDir(
            f"The output directory {out_dir} cannot be written ({exc.strerror or exc}); "
            "choose a writable --out directory."
        ) from exc


def _run_id() -> str:
    seed = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:10]

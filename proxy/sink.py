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
or parsing bug, a dead writer process or thread) reaches the traffic: each failure is counted
by kind in `Metrics` and logged once, and a dead writer is restarted (`proxy.sink_backends`).
A full queue is counted as `dropped` (policy `drop`, the default) or makes the request path
wait for room (policy `block`). Every exchange handed to `put` is counted as `forwarded`, and
ends as recorded, dropped or a record error: the run's closing ledger says which.

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
import time
from abc import ABC, abstractmethod
from typing import Any, Literal

from proxy.capture import Capture
from proxy.errors import BadOutDir
from proxy.metrics import Metrics
from proxy.record_writer import Redactor, WriterSettings, load_redactor
from proxy.sink_backends import ProcessBackend, ThreadBackend
from recorder import storage
from recorder.errors import UsageError
from recorder.writer import Durability

log = logging.getLogger("deploysim.proxy")

QueuePolicy = Literal["drop", "block"]
Isolation = Literal["process", "thread"]
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_ROTATE_BYTES = 256 * 1024 * 1024

__all__ = ["DEFAULT_QUEUE_SIZE", "DEFAULT_ROTATE_BYTES", "Isolation", "QueuePolicy",
           "RecordingSink", "Redactor", "Sink", "load_redactor"]


class Sink(ABC):
    """Where a proxy hands finished exchanges. Subclass it and implement `put`.

    >>> class Listed(Sink):
    ...     def __init__(self): self.captures = []
    ...     async def put(self, capture): self.captures.append(capture)
    """

    @abstractmethod
    async def put(self, capture: Capture) -> None:
        """Take one finished exchange; never raises (a failure is counted, not thrown)."""

    def put_nowait(self, capture: Capture) -> bool:
        """Take `capture` at once, from any thread, if this sink never makes a producer
        wait: True when taken (queued, or counted as dropped); False when the producer must
        `await put(capture)` instead. Producers that can hand over without a coroutine
        (mitmproxy's hooks) ask this first. Default: False."""
        return False


class _MetricsReporter:
    """Applies writer reports to the proxy's metrics (writer thread or event thread)."""

    def __init__(self, metrics: Metrics, paths: list[str]) -> None:
        self.metrics = metrics
        self.paths = paths

    def recorded(self) -> None:
        self.metrics.recorded += 1

    def error(self, kind: str, detail: str) -> None:
        self.metrics.count_record_error(kind, detail)

    def warning(self, kind: str, detail: str) -> None:
        self.metrics.count_record_warning(kind, detail)

    def lost(self, kind: str, detail: str, n: int) -> None:
        self.metrics.count_record_error(kind, detail, n)

    def opened(self, path: str) -> None:
        if path not in self.paths:
            self.paths.append(path)

    def progress(self) -> None:
        self.metrics.writer_progress += 1

    def restarted(self) -> None:
        self.metrics.writer_restarts += 1

    def proxy_counts(self) -> tuple[int, dict[str, int]]:
        return self.metrics.forwarded, dict(self.metrics.drops)


class RecordingSink(Sink):
    """Bounded queue → writer (thread or process) → cassettes in `out_dir`.

    Redaction is on by default (default rules plus `redact_rules`, key from the deploysim
    config); `redactor` injects a ready redactor object and needs `isolation="thread"`.
    `derive_sessions` appends derived sessions on a clean close. `writer_niceness` lowers
    the writer process's CPU priority (0, the default: equal footing with the traffic).
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
        writer_niceness: int = 0,
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
        self._backend: ThreadBackend | ProcessBackend | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Check the output directory and the redaction config, then start the writer."""
        _check_writable(self.out_dir)
        settings = self._settings
        if self.redact and self.redactor is None:
            from recorder.redact_key import resolve_key

            # fail now, with the config's own message, rather than in the writer later
            key = resolve_key(corpus=self.out_dir)  # the folder's own key (its marker)
            load_redactor(self.redact_rules, key)
            settings = dataclasses.replace(settings, redact_key=key)
        reporter = _MetricsReporter(self.metrics, self.paths)  # the backends' Feedback
        if self.isolation == "thread":
            backend: ThreadBackend | ProcessBackend = ThreadBackend(
                settings, reporter, self.redactor if self.redact else None, self.queue_size)
        else:
            backend = ProcessBackend(settings, reporter, self.queue_size)
        backend.start()
        self._backend = backend
        self._queue = backend.queue
        self.metrics.queue_depth = _depth(backend.queue)

    async def aclose(self, stall_timeout: float = 60.0) -> None:
        """Drain the queue, derive sessions, close the cassette — without blocking the loop."""
        await asyncio.to_thread(self.close, stall_timeout)

    def close(self, stall_timeout: float = 60.0) -> None:
        """Drain the queue, derive and append sessions, write the ledger, close (idempotent).

        Waits as long as the writer makes progress (records written, sessions derived): a
        backlog is written, not abandoned. Gives up only after `stall_timeout` seconds
        without any progress."""
        if self._closed or self._backend is None:
            self._closed = True
            return
        self._closed = True
        backend = self._backend
        if not backend.wait(self._progress, stall_timeout):
            log.error("the cassette writer made no progress for %ss; %d exchange(s) were not "
                      "written", stall_timeout, self.metrics.queue_depth())
        self.sessions_written = backend.finish()

    def abandon(self) -> int:
        """Stop at once without writing what waits (a second Ctrl-C); returns how many
        exchanges were not written. Everything written so far stays readable."""
        self._closed = True
        backend = self._backend
        if backend is None:
            return 0
        return backend.abandon()

    def _progress(self) -> tuple[int, int, int, int]:
        m = self.metrics
        return m.recorded, sum(m.record_errors.values()), m.queue_depth(), m.writer_progress

    # -- request side --------------------------------------------------------------------

    async def put(self, capture: Capture) -> None:
        """Queue an exchange for recording; never raises. See `policy` for a full queue."""
        self.metrics.count_forwarded()
        if self._offer(capture, count_drop=self.policy == "drop"):
            return
        if self.policy == "drop":
            return
        delay = 0.0005
        while not self._closed:  # `block`: wait for room without blocking the event loop
            await asyncio.sleep(delay)
            if self._offer(capture, count_drop=False):
                return
            delay = min(delay * 2, 0.05)
        self.metrics.count_drop("closed")

    def put_nowait(self, capture: Capture) -> bool:
        """Under policy `drop`, queue an exchange from any thread without waiting (a full
        queue counts it as dropped) and say True; under `block`, False: `put` must wait."""
        if self.policy != "drop":
            return False
        self.metrics.count_forwarded()
        self._offer(capture, count_drop=True)
        return True

    def _offer(self, capture: Capture, *, count_drop: bool) -> bool:
        if self._backend is None or self._closed:
            self.metrics.count_drop("closed")
            return False
        try:
            self._queue.put_nowait(capture)
            return True
        except queue.Full:
            if count_drop:
                self.metrics.count_drop("queue_full")
            return False


def _depth(q: Any) -> Any:
    def depth() -> int:
        with contextlib.suppress(NotImplementedError, OSError):
            return int(q.qsize())
        return 0

    return depth


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

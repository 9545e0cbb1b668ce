"""The recording sink: a bounded queue in front of a writer thread that owns the cassette.

The request path only enqueues a `Capture` (O(1), never blocks under the default policy); the
writer thread builds the `Exchange`, redacts it, and appends it. Nothing that can go wrong on
that side (a full disk, an unwritable directory, a redaction or parsing bug) reaches the
traffic: each failure is counted by kind in `Metrics` and logged once.

On a clean close the queue is drained, sessions are derived from everything recorded in this
run and appended, and the cassette is closed (fsynced). A killed process loses at most the
record being written; every complete record stays readable.

>>> sink = RecordingSink("out/", metrics=Metrics())          # doctest: +SKIP
>>> sink.start()
>>> await sink.put(capture)        # from the event loop
>>> await sink.aclose()            # drain, derive sessions, close
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from proxy.capture import Capture
from proxy.errors import BadOutDir
from proxy.metrics import Metrics
from recorder import storage
from recorder.errors import RecordTooLarge
from recorder.exchange import Exchange
from recorder.writer import CassetteWriter, Durability

log = logging.getLogger("deploysim.proxy")

QueuePolicy = Literal["drop", "block"]
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_ROTATE_BYTES = 256 * 1024 * 1024
REOPEN_DELAY = 1.0
"""Seconds to wait before trying to open a new cassette after the last one failed."""

_STOP = object()


class Redactor(Protocol):
    """What the sink needs from `recorder.redact.Redactor`."""

    policy_id: str

    def redact_exchange(self, ex: Exchange) -> Exchange: ...


class Sink(Protocol):
    """Where a proxy hands finished exchanges. `put` must never raise."""

    async def put(self, capture: Capture) -> None: ...


class RecordingSink:
    """Bounded queue → writer thread → `CassetteWriter` in `out_dir`.

    `policy`: when the queue is full, `drop` (default) counts the exchange as dropped and lets
    the request finish at once; `block` makes the request path wait for room, trading latency
    for completeness. `derive_sessions` appends derived sessions on a clean close.
    """

    def __init__(
        self,
        out_dir: str,
        *,
        metrics: Metrics | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        policy: QueuePolicy = "drop",
        redactor: Redactor | None = None,
        durability: Durability = "interval",
        rotate_bytes: int | None = DEFAULT_ROTATE_BYTES,
        producer: str = "deploysim record",
        meta: dict[str, Any] | None = None,
        derive_sessions: bool = True,
        prefix: str = "record",
    ) -> None:
        self.out_dir = out_dir
        self.metrics = metrics or Metrics()
        self.policy = policy
        self.redactor = redactor
        self.durability = durability
        self.rotate_bytes = rotate_bytes
        self.producer = producer
        self.meta = dict(meta or {})
        self.derive_sessions = derive_sessions
        self.run_id = _run_id()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self._base = storage.join(out_dir, f"{prefix}-{stamp}-{self.run_id}")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.metrics.queue_depth = self._queue.qsize
        self._thread: threading.Thread | None = None
        self._writer: CassetteWriter | None = None
        self._generation = 0
        self._retry_at = 0.0
        self._seq = 0
        self.paths: list[str] = []
        """Every cassette file this sink wrote to, in order."""
        self.sessions_written = 0
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Check the output directory is writable and start the writer thread."""
        _check_writable(self.out_dir)
        self._thread = threading.Thread(target=self._run, name="deploysim-writer", daemon=True)
        self._thread.start()

    async def aclose(self, timeout: float | None = 60.0) -> None:
        """Drain the queue, derive sessions, close the cassette — without blocking the loop."""
        await asyncio.to_thread(self.close, timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Drain the queue, derive and append sessions, and close the cassette (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the cassette writer did not finish within %ss; %d exchange(s) were still "
                      "queued", timeout, self._queue.qsize())

    # -- request side --------------------------------------------------------------------

    async def put(self, capture: Capture) -> None:
        """Queue an exchange for recording; never raises. See `policy` for a full queue."""
        try:
            self._queue.put_nowait(capture)
            return
        except queue.Full:
            pass
        if self.policy == "drop" or self._closed:
            self.metrics.dropped += 1
            return
        delay = 0.0005
        while not self._closed:  # `block`: wait for room without blocking the event loop
            await asyncio.sleep(delay)
            try:
                self._queue.put_nowait(capture)
                return
            except queue.Full:
                delay = min(delay * 2, 0.05)
        self.metrics.dropped += 1

    def put_nowait(self, capture: Capture) -> bool:
        """Queue an exchange from any thread without waiting; False (counted) when full."""
        try:
            self._queue.put_nowait(capture)
            return True
        except queue.Full:
            self.metrics.dropped += 1
            return False

    # -- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._record(item)
        try:
            if self.derive_sessions:
                self._append_sessions()
        finally:
            self._close_writer()

    def _record(self, capture: Capture) -> None:
        self._seq += 1
        try:
            exchange = capture.to_exchange(f"{self.run_id}-{self._seq:06d}")
        except Exception as exc:  # a capture bug must cost one record, not the proxy
            self.metrics.count_record_error("capture", repr(exc))
            return
        try:
            exchange = self.redact(exchange)
        except Exception as exc:  # never write what could not be redacted
            self.metrics.count_record_error("redact", repr(exc))
            return
        if self._write(exchange):
            self.metrics.recorded += 1

    def redact(self, exchange: Exchange) -> Exchange:
        """The redaction step: runs on the writer thread, before anything touches the disk."""
        if self.redactor is None:
            return exchange
        return self.redactor.redact_exchange(exchange)

    def _write(self, record: Any) -> bool:
        writer = self._current_writer()
        if writer is None:
            self.metrics.count_record_error("no_cassette", "no cassette could be opened")
            return False
        try:
            writer.write(record)
            return True
        except RecordTooLarge as exc:
            self.metrics.count_record_error("too_large", str(exc))
        except OSError as exc:
            self.metrics.count_record_error(f"write_{_errno_name(exc)}", str(exc))
            # The file may now end in a torn frame: leave it and start a fresh one later.
            self._abandon_writer()
        except Exception as exc:
            self.metrics.count_record_error("encode", repr(exc))
        return False

    def _current_writer(self) -> CassetteWriter | None:
        if self._writer is not None:
            return self._writer
        if time.monotonic() < self._retry_at:
            return None
        suffix = "" if self._generation == 0 else f".{self._generation}"
        self._generation += 1
        try:
            self._writer = CassetteWriter(
                self._base + suffix + ".cassette",
                producer=self.producer,
                redaction_policy=self.redactor.policy_id if self.redactor else None,
                meta={"run_id": self.run_id, **self.meta},
                durability=self.durability,
                rotate_bytes=self.rotate_bytes,
            )
        except OSError as exc:
            self.metrics.count_record_error(f"open_{_errno_name(exc)}", str(exc))
            self._retry_at = time.monotonic() + REOPEN_DELAY
            return None
        self.paths.extend(p for p in self._writer.paths if p not in self.paths)
        return self._writer

    def _abandon_writer(self) -> None:
        writer, self._writer = self._writer, None
        self._retry_at = time.monotonic() + REOPEN_DELAY
        if writer is not None:
            self.paths.extend(p for p in writer.paths if p not in self.paths)
            with contextlib.suppress(Exception):  # already failing; the error was counted
                writer.close()

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self.paths.extend(p for p in writer.paths if p not in self.paths)
        try:
            writer.close()
        except Exception as exc:
            self.metrics.count_record_error(f"close_{type(exc).__name__}", str(exc))

    def _append_sessions(self) -> None:
        """Derive sessions from this run's exchanges and append them (clean close only)."""
        if self._writer is not None:
            self.paths.extend(p for p in self._writer.paths if p not in self.paths)
        derive = session_deriver()
        if derive is None or not self.paths or not self.metrics.recorded:
            return
        try:
            sessions = derive(list(_read_exchanges(self.paths)))
        except Exception as exc:  # a parser bug: the exchanges are safe, sessions can be redone
            self.metrics.count_record_error("derive", repr(exc))
            return
        for session in sessions:
            if self._write(session):
                self.sessions_written += 1


def session_deriver() -> Callable[[list[Exchange]], list[Any]] | None:
    """`recorder.derive`'s sessions-from-exchanges function, or None where it is missing."""
    try:
        from recorder import derive  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    fn = getattr(derive, "derive_sessions", None)
    return fn if callable(fn) else None


def _read_exchanges(paths: list[str]) -> Any:
    from recorder.reader import CassetteReader

    for path in paths:
        if not storage.exists(path):
            continue
        for record in CassetteReader(path):
            if isinstance(record, Exchange):
                yield record


def load_redactor(rules_file: str | None = None, key: bytes | None = None) -> Redactor:
    """The project's redactor: default rules plus `rules_file`, key from `resolve_key`."""
    from recorder.redact import Redactor as RecorderRedactor

    return RecorderRedactor.from_config(rules_file=rules_file, key=key)


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


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def _run_id() -> str:
    seed = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:10]

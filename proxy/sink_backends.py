"""Where the sink's cassette writer runs: a thread of this process, or a child process.

Both take captures from a bounded `queue.Queue` and report through a `Reporter`
(`proxy.record_writer`); both stop by a `None` marker, waiting as long as the writer makes
progress. See `proxy.sink` for when to use which.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from proxy.capture import Capture
from proxy.errors import ProxyError
from proxy.record_writer import RecordWriter, Redactor, Reporter, WriterSettings

log = logging.getLogger("deploysim.proxy")

SHIP_BATCH = 256
"""Most captures sent to the writer process in one pipe write."""
SHIP_FRAME_BYTES = 8 * 1024 * 1024
"""Most body bytes pickled into one frame (captures over it travel alone)."""
SHIP_LINGER = 0.005
"""Seconds the shipper waits after the first capture of a batch for more to queue up."""


class ThreadBackend:
    """The writer on a thread of this process."""

    def __init__(self, settings: WriterSettings, reporter: Reporter,
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


class ProcessBackend:
    """The writer in a child process (`proxy.writer_process`), fed over a pipe.

    The bounded queue stays in this process; a shipper thread pickles each capture and writes
    it to the child's stdin (the write releases the GIL), a listener thread applies the
    child's reports to the metrics. The child is started with `python -m`, so nothing of the
    caller's `__main__` is re-imported.
    """

    def __init__(self, settings: WriterSettings, reporter: Reporter,
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
            # take whatever has queued up (waiting a moment for more) and send it as one
            # pickled list in one write: under load this thread wakes (and takes the GIL) once
            # per batch, not once per exchange
            batch = [self.queue.get()]
            if batch[-1] is not None:
                time.sleep(SHIP_LINGER)
            while batch[-1] is not None and len(batch) < SHIP_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            end = batch[-1] is None
            captures = batch[:-1] if end else batch
            frames = [frame(group) for group in _groups(captures)]
            if end:
                frames.append(frame(None))
            try:
                pipe.write(b"".join(frames))
                pipe.flush()
            except (OSError, ValueError):
                self._died()
                return
            if end:
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


def _groups(captures: list[Capture | None]) -> list[list[Capture | None]]:
    """Consecutive captures in lists of at most `SHIP_FRAME_BYTES` of bodies (a single larger
    capture travels alone): one pickle per list, and no frame near the 4 GB length limit."""
    groups: list[list[Capture | None]] = []
    size = SHIP_FRAME_BYTES
    for cap in captures:
        n = 0 if cap is None else _body_bytes(cap)
        if size + n > SHIP_FRAME_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(cap)
        size += n
    return groups


def _body_bytes(cap: Capture) -> int:
    n = len(cap.request_body) + len(cap.response_body)
    if cap.chunks:
        n += sum(len(d) for _, d in cap.chunks)
    return n


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

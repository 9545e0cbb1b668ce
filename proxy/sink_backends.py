"""Where the sink's cassette writer runs, supervised: a thread of this process, or a child process.

Both take captures from a bounded `queue.Queue` and report through a `Feedback` (the sink's
metrics). Both are supervised, because a recorder that dies quietly is worse than one that
fails loudly: an exception in a feeding, listening or writing thread, or a writer process that
exits, is counted at once (`record_errors{kind}` for exchanges it cost, `writer_restarts`),
logged once, and recording resumes with a fresh thread or process. The traffic never waits
for any of it: captures wait in the queue meanwhile (a full queue is counted as `dropped`).

Both stop by a `None` marker; the writer then receives what the proxy counted (`Carried`) and
closes the run with its ledger, and the caller waits as long as the writer makes progress.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from proxy.capture import Capture
from proxy.errors import ProxyError
from proxy.record_writer import Carried, RecordWriter, Redactor, Reporter, WriterSettings
from recorder.ledger import add_counts
from recorder.reader import CassetteReader

log = logging.getLogger("deploysim.proxy")

SHIP_BATCH = 256
"""Most captures sent to the writer process in one pipe write."""
SHIP_FRAME_BYTES = 8 * 1024 * 1024
"""Most body bytes pickled into one frame (captures over it travel alone)."""
SHIP_LINGER = 0.005
"""Seconds the shipper waits after the first capture of a batch for more to queue up."""
START_TIMEOUT = 60.0
"""Seconds a writer process gets to say it is ready."""
RESTART_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits before successive restarts of a writer process that keeps failing (then the last)."""


class Feedback(Reporter, Protocol):
    """What a backend reports beyond the writer's own reports."""

    def lost(self, kind: str, detail: str, n: int) -> None:
        """`n` exchanges were lost to a failure of this kind (outside the writer's own code)."""

    def restarted(self) -> None:
        """A writer thread or process was restarted after a failure."""

    def proxy_counts(self) -> tuple[int, dict[str, int]]:
        """(exchanges forwarded, exchanges dropped by reason) so far, for the ledger."""


class ThreadBackend:
    """The writer on a thread of this process; a thread that fails is replaced."""

    def __init__(self, settings: WriterSettings, feedback: Feedback,
                 redactor: Redactor | None, maxsize: int) -> None:
        self.queue: queue.Queue[Capture | None] = queue.Queue(maxsize=maxsize)
        self._feedback = feedback
        self._writer = RecordWriter(settings, feedback, redactor=redactor)
        self._errors: dict[str, int] = {}
        self._done = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="deploysim-writer", daemon=True).start()

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                self._writer.record(item)
        except Exception as exc:  # a writer bug: the capture in hand is lost, the rest is not
            self._errors["writer_thread"] = self._errors.get("writer_thread", 0) + 1
            self._feedback.lost("writer_thread", repr(exc), 1)
            self._feedback.restarted()
            self.start()
            return
        forwarded, dropped = self._feedback.proxy_counts()
        try:
            self._writer.close(carried=Carried(forwarded, dropped, dict(self._errors)))
        finally:
            self._done.set()

    def wait(self, progress: Callable[[], object], stall_timeout: float) -> bool:
        if not _put_waiting(self.queue, progress, stall_timeout):
            return False
        return _wait_progress(self._done.is_set, progress, stall_timeout)

    def finish(self) -> int:
        self._done.wait(1)
        return self._writer.sessions_written

    def abandon(self) -> int:
        """Stop waiting for the writer thread (a second Ctrl-C): returns how many exchanges
        were still queued. The thread is a daemon; what it wrote stays readable."""
        return self.queue.qsize()


class _Generation:
    """One writer process, and what it was sent and said (for the ledger and for losses)."""

    def __init__(self, number: int, proc: subprocess.Popen[bytes]) -> None:
        self.number = number
        self.proc = proc
        self.lock = threading.Lock()
        self.shipped = 0
        """Captures sent to it."""
        self.recorded = 0
        self.errors: dict[str, int] = {}
        """Captures it reported lost, by kind."""
        self.files: list[str] = []
        self.paths: list[str] = []
        """The cassette files it wrote to (full paths; `files` holds their names)."""
        self.ended = False
        """It exited (or its pipe broke): nothing more may be sent to it."""
        self.ready = threading.Event()
        self.fatal: str | None = None
        self.done = threading.Event()
        """It closed cleanly (or ended): the caller may stop waiting."""
        self.sessions = 0

    @property
    def unaccounted(self) -> int:
        """Captures sent but neither reported written nor reported lost."""
        return self.shipped - self.recorded - sum(self.errors.values())


class ProcessBackend:
    """The writer in a child process (`proxy.writer_process`), fed over a pipe, restarted
    when it dies.

    The bounded queue stays in this process; a feed thread pickles batches of captures and
    writes them to the child's stdin (the write releases the GIL); a listener thread per child
    applies its reports. The child is started with `python -m`, so nothing of the caller's
    `__main__` is re-imported. When a child dies, what it was sent but had not reported is
    counted as lost (`writer_died`) and a new child (writing a new cassette file) takes over.
    """

    def __init__(self, settings: WriterSettings, feedback: Feedback, maxsize: int) -> None:
        self.queue: queue.Queue[Capture | None] = queue.Queue(maxsize=maxsize)
        self.settings = settings
        self._feedback = feedback
        self._cv = threading.Condition()
        self._gen: _Generation | None = None
        self._closing = False
        self._finished = threading.Event()
        # what ended writers recorded and lost, and what was lost outside any writer
        self._settled_recorded = 0
        self._settled_errors: dict[str, int] = {}
        self._settled_files: list[str] = []
        self.sessions_written = 0

    # -- starting and restarting writers ---------------------------------------------------

    def start(self) -> None:
        gen = self._spawn(0)
        if not gen.ready.wait(START_TIMEOUT) or gen.fatal is not None:
            _kill(gen.proc)
            raise ProxyError(f"The cassette writer process could not start "
                             f"({gen.fatal or 'no answer within 60 s'}); check --out and "
                             "the redaction settings.")
        with self._cv:
            self._gen = gen
        threading.Thread(target=self._feed, name="deploysim-writer-feed", daemon=True).start()

    def _spawn(self, number: int) -> _Generation:
        from proxy import writer_process

        root = os.path.dirname(os.path.dirname(os.path.abspath(writer_process.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        settings = self.settings
        if number:  # a restarted writer starts a cassette of its own: never append to a
            settings = replace(settings, base=f"{settings.base}-w{number}")  # torn file
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy.writer_process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, close_fds=True)
        gen = _Generation(number, proc)
        assert proc.stdin is not None
        try:
            writer_process.write_frame(proc.stdin, settings)
        except OSError as exc:
            gen.fatal = f"its pipe broke at start: {exc}"
            gen.ready.set()
        threading.Thread(target=self._listen, args=(gen,), daemon=True,
                         name=f"deploysim-writer-events-{number}").start()
        return gen

    def _restart(self, dead: _Generation) -> None:
        """Start writers until one is ready (backing off), unless the sink is closing."""
        number = dead.number
        for attempt in itertools.count():
            delay = RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)]
            with self._cv:
                if self._closing or self._cv.wait_for(lambda: self._closing, delay):
                    self._gen = None
                    self._cv.notify_all()
                    return
            number += 1
            gen = self._spawn(number)
            if gen.ready.wait(START_TIMEOUT) and gen.fatal is None:
                self._feedback.restarted()
                with self._cv:
                    self._gen = gen
                    self._cv.notify_all()
                return
            _kill(gen.proc)
            log.error("the cassette writer process could not be restarted (%s); retrying",
                      gen.fatal or "no answer")

    def _live(self) -> _Generation | None:
        """The current writer, waiting while one is being restarted; None once closing
        has left no writer."""
        with self._cv:
            self._cv.wait_for(lambda: (self._gen is not None and not self._gen.ended)
                              or (self._closing and self._gen is None))
            return self._gen

    # -- feeding ---------------------------------------------------------------------------

    def _feed(self) -> None:
        """Ship batches until the stop marker. A failure here costs the batch in hand, is
        counted, and the loop goes on (the same as a restarted thread, without the gap)."""
        while True:
            batch = self._next_batch()
            end = batch[-1] is None
            captures: list[Capture] = [c for c in batch if c is not None]
            try:
                self._ship(captures)
            except Exception as exc:
                self._lose("feed_thread", repr(exc), len(captures))
            if end:
                self._close()
                return

    def _next_batch(self) -> list[Capture | None]:
        # take whatever has queued up (waiting a moment for more) and send it as one pickled
        # list in one write: under load this thread wakes (and takes the GIL) once per batch,
        # not once per exchange
        batch = [self.queue.get()]
        if batch[-1] is not None:
            time.sleep(SHIP_LINGER)
        while batch[-1] is not None and len(batch) < SHIP_BATCH:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _ship(self, captures: list[Capture]) -> None:
        if not captures:
            return
        data = b"".join(_frames(captures, self._lose))
        while True:
            gen = self._live()
            if gen is None:  # closing with no writer left
                self._lose("writer_died", "no cassette writer is running", len(captures))
                return
            with gen.lock:
                if gen.ended:
                    continue  # it died after `_live` looked: wait for the next one
                gen.shipped += len(captures)
            stdin = gen.proc.stdin
            assert stdin is not None
            try:
                stdin.write(data)
                stdin.flush()
            except (OSError, ValueError):
                pass  # it died: its listener counts what it was sent as lost
            return

    def _close(self) -> None:
        """Send the close frame with what the proxy counted; the writer writes the ledger."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        gen = self._live()
        if gen is None:
            self._finished.set()
            return
        from proxy.writer_process import frame

        forwarded, dropped = self._feedback.proxy_counts()
        with gen.lock:
            carried = Carried(forwarded, dropped, dict(self._settled_errors),
                              self._settled_recorded, tuple(self._settled_files))
        stdin = gen.proc.stdin
        assert stdin is not None
        try:
            stdin.write(frame(("close", carried)))
            stdin.flush()
            stdin.close()
        except (OSError, ValueError):
            pass  # it died: the listener says so

    def _lose(self, kind: str, detail: str, n: int) -> None:
        if n:
            with self._cv:
                self._settled_errors = add_counts(self._settled_errors, {kind: n})
            self._feedback.lost(kind, detail, n)

    # -- listening -------------------------------------------------------------------------

    def _listen(self, gen: _Generation) -> None:
        from proxy.writer_process import read_frame

        assert gen.proc.stdout is not None
        fb = self._feedback
        while True:
            try:
                ok, event = read_frame(gen.proc.stdout)
            except Exception:
                ok, event = False, None
            if not ok or not isinstance(event, tuple):
                break
            kind = event[0]
            if kind == "recorded":
                with gen.lock:
                    gen.recorded += event[1]
                for _ in range(event[1]):
                    fb.recorded()
            elif kind == "error":
                with gen.lock:
                    gen.errors[event[1]] = gen.errors.get(event[1], 0) + 1
                fb.error(event[1], event[2])
            elif kind == "warning":
                fb.warning(event[1], event[2])
            elif kind == "progress":
                fb.progress()
            elif kind == "opened":
                gen.paths.append(event[1])
                gen.files.append(os.path.basename(event[1]))
                fb.opened(event[1])
            elif kind == "ready":
                gen.ready.set()
            elif kind == "fatal":
                gen.fatal = event[1]
                gen.ready.set()
            elif kind == "done":
                gen.sessions = self.sessions_written = event[1]
        self._ended(gen)

    def _ended(self, gen: _Generation) -> None:
        """The writer's pipe closed: count what it took with it, and start a new writer
        unless it was told to close (a writer that never started is `start`'s business)."""
        code: int | None
        try:
            code = gen.proc.wait(10)
        except subprocess.TimeoutExpired:
            _kill(gen.proc)
            code = gen.proc.poll()
        started = gen.ready.is_set() and gen.fatal is None
        if not gen.ready.is_set():
            gen.fatal = f"it exited with code {code} before it was ready"
            gen.ready.set()
        with gen.lock:
            gen.ended = True
            lost = gen.unaccounted
        if lost > 0:
            lost -= self._reconcile(gen, lost)
        with self._cv:
            self._settled_recorded += gen.recorded
            self._settled_errors = add_counts(self._settled_errors, gen.errors)
            self._settled_files.extend(f for f in gen.files if f not in self._settled_files)
            closing = self._closing
            if closing and self._gen is gen:
                self._gen = None
            self._cv.notify_all()
        gen.done.set()
        if lost:
            self._lose("writer_died", f"the cassette writer process stopped (exit code {code}) "
                       f"before writing {lost} exchange(s) it was sent", lost)
        if closing:
            self._finished.set()
        elif started:
            log.error("the cassette writer process stopped (exit code %s); starting a new one "
                      "(queued exchanges wait for it)", code)
            self._restart(gen)

    def _reconcile(self, gen: _Generation, lost: int) -> int:
        """A dead writer's files are the truth: its last `recorded` reports may not have been
        sent (they are batched). Count the exchanges in them; returns how many of the
        unaccounted ones were in fact written (and reports them as recorded)."""
        written = 0
        for path in gen.paths:
            with contextlib.suppress(Exception):  # a file it could not finish: count what reads
                reader = CassetteReader(path)
                written += sum(1 for _, obj in reader.iter_objs() if obj.get("kind") == "exchange")
        found = max(0, min(lost, written - gen.recorded))
        with gen.lock:
            gen.recorded += found
        for _ in range(found):
            self._feedback.recorded()
        return found

    # -- stopping --------------------------------------------------------------------------

    def wait(self, progress: Callable[[], object], stall_timeout: float) -> bool:
        if not _put_waiting(self.queue, progress, stall_timeout):
            return False
        return _wait_progress(self._finished.is_set, progress, stall_timeout)

    def finish(self) -> int:
        with self._cv:
            gen = self._gen
        if gen is not None:
            try:
                gen.proc.wait(10)
            except subprocess.TimeoutExpired:
                log.error("the cassette writer process did not exit; stopping it")
                _kill(gen.proc)
        return self.sessions_written

    def abandon(self) -> int:
        """Stop the writer now (a second Ctrl-C): returns how many exchanges were still queued
        or held by it. What it already wrote stays readable."""
        with self._cv:
            self._closing = True
            gen = self._gen
            self._cv.notify_all()
        pending = self.queue.qsize()
        if gen is not None:
            with gen.lock:
                pending += max(gen.unaccounted, 0)
            _kill(gen.proc)
        return pending


def _frames(captures: list[Capture], lose: Callable[[str, str, int], None]) -> list[bytes]:
    """Pickled frames of `captures` in size-bounded groups; a capture that cannot be pickled
    is counted as lost alone instead of costing its whole group."""
    from proxy.writer_process import frame

    out: list[bytes] = []
    for group in _groups(captures):
        try:
            out.append(frame(group))
        except (pickle.PicklingError, TypeError, AttributeError, ValueError):
            for cap in group:
                try:
                    out.append(frame([cap]))
                except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
                    lose("pickle", repr(exc), 1)
    return out


def _groups[T: Capture | None](captures: list[T]) -> list[list[T]]:
    """Consecutive captures in lists of at most `SHIP_FRAME_BYTES` of bodies (a single larger
    capture travels alone): one pickle per list, and no frame near the 4 GB length limit."""
    groups: list[list[T]] = []
    size = 0
    for cap in captures:
        n = 0 if cap is None else _body_bytes(cap)
        if not groups or (groups[-1] and size + n > SHIP_FRAME_BYTES):
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


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


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


__all__ = ["Feedback", "ProcessBackend", "ThreadBackend"]

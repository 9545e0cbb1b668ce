"""The writer process: `python -m proxy.writer_process`, started by `RecordingSink`.

Framing on both pipes: 4-byte little-endian length, then a pickle. stdin carries the
`WriterSettings` first, then a list of `Capture`s per frame (one pickle per batch costs less
than one per capture); `("close", Carried)` asks for a clean close (derive sessions, write
the run's ledger, close the cassette). stdout carries report tuples back: `("ready",)`,
`("recorded", n)`, `("error", kind, detail)` (an exchange lost), `("warning", kind, detail)`,
`("progress",)`, `("opened", path)`, `("done", sessions)`.

`recorded` reports are batched (every 64 records, every 0.5 s, and whenever the input runs
dry): one wake-up of the proxy's listener per record would cost the traffic's event loop the
GIL thousands of times a second. Losses (`error`) are reported at once. When this process
dies, the proxy counts the exchanges in its files to learn exactly what it wrote.

When stdin ends without the close frame the proxy is gone (killed): everything it had sent is
written, a ledger saying the run did not close cleanly is appended, and the process exits.
Signals from the terminal are ignored — Ctrl-C reaches the whole process group, and the proxy
decides when the writer stops.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import time
from typing import IO, Any

from proxy.record_writer import Carried, RecordWriter, WriterSettings

LENGTH = struct.Struct("<I")


def frame(obj: Any) -> bytes:
    """One object as a frame (None is the empty close frame)."""
    data = b"" if obj is None else pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(data)) + data


def write_frame(out: IO[bytes], obj: Any) -> None:
    """Send one object (None sends the empty close frame)."""
    out.write(frame(obj))
    out.flush()


def read_frame(inp: IO[bytes]) -> tuple[bool, Any]:
    """(True, object) for a frame, (True, None) for the close frame, (False, None) at EOF."""
    head = _read_exact(inp, LENGTH.size)
    if head is None:
        return False, None
    (size,) = LENGTH.unpack(head)
    if size == 0:
        return True, None
    data = _read_exact(inp, size)
    if data is None:
        return False, None
    return True, pickle.loads(data)


def _read_exact(inp: IO[bytes], n: int) -> bytes | None:
    parts = []
    while n:
        data = inp.read(n)
        if not data:
            return None
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


PROGRESS_INTERVAL = 0.1
"""Seconds between progress reports (deriving sessions can take minutes on a big run)."""
RECORDED_BATCH = 64
RECORDED_INTERVAL = 0.5


class _Reporter:
    """Sends reports to the proxy. Once the proxy is gone (a broken pipe), reports are dropped:
    the writer still writes what it was sent."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.last_progress = 0.0
        self.pending = 0
        self.last_flush = time.monotonic()
        self.gone = False

    def _send(self, data: bytes) -> None:
        if self.gone:
            return
        try:
            self.out.write(data)
            self.out.flush()
        except (OSError, ValueError):
            self.gone = True

    def recorded(self) -> None:
        self.pending += 1
        if (self.pending >= RECORDED_BATCH
                or time.monotonic() - self.last_flush >= RECORDED_INTERVAL):
            self.flush()

    def flush(self) -> None:
        """Send the `recorded` count not yet sent."""
        self.last_flush = time.monotonic()
        if self.pending:
            self._send(frame(("recorded", self.pending)))
            self.pending = 0

    def error(self, kind: str, detail: str) -> None:
        self.flush()
        self._send(frame(("error", kind, detail)))

    def warning(self, kind: str, detail: str) -> None:
        self._send(frame(("warning", kind, detail)))

    def opened(self, path: str) -> None:
        self._send(frame(("opened", path)))

    def progress(self) -> None:
        now = time.monotonic()
        if now - self.last_progress >= PROGRESS_INTERVAL:
            self.last_progress = now
            self.flush()
            self._send(frame(("progress",)))

    def done(self, sessions: int) -> None:
        self.flush()
        self._send(frame(("done", sessions)))


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    ok, settings = read_frame(inp)
    if not ok or not isinstance(settings, WriterSettings):
        return 2
    # an optional lower CPU priority than the proxy: the traffic gets the CPU first and the
    # queue absorbs bursts. Not the default: under sustained load a starved writer only grows
    # the backlog until it is dropped (or lost to a kill), so equal footing records more.
    if settings.niceness:
        with contextlib.suppress(OSError):
            os.nice(settings.niceness)
    sys.stdout = sys.stderr  # nothing but frames may reach the proxy's pipe
    reporter = _Reporter(out)
    try:
        writer = RecordWriter(settings, reporter)
    except Exception as exc:
        write_frame(out, ("fatal", f"{type(exc).__name__}: {exc}"))
        return 1
    write_frame(out, ("ready",))
    carried: Carried | None = None
    fd = inp.fileno()
    while True:
        if reporter.pending and not select.select([fd], [], [], 0)[0]:
            reporter.flush()  # the input ran dry: bring the proxy's count up to date
        try:
            ok, batch = read_frame(inp)
        except Exception as exc:  # a frame that cannot be unpickled: the proxy counts it
            reporter.warning("frame", repr(exc))
            continue
        if not ok:
            break  # the proxy is gone: keep what it sent, skip session derivation
        if isinstance(batch, tuple) and batch[:1] == ("close",):
            carried = batch[1]
            break
        for capture in batch if isinstance(batch, list) else ():
            writer.record(capture)
    writer.close(derive=None if carried is not None else False, carried=carried)
    reporter.done(writer.sessions_written)
    return 0


if __name__ == "__main__":
    sys.exit(main())

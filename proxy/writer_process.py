"""The writer process: `python -m proxy.writer_process`, started by `RecordingSink`.

Framing on both pipes: 4-byte little-endian length, then a pickle. stdin carries the
`WriterSettings` first, then a list of `Capture`s per frame (one pickle per batch costs less
than one per capture); an empty frame asks for a clean close
(derive sessions, close the cassette). stdout carries report tuples back: `("ready",)`,
`("recorded", n)`, `("error", kind, detail)`, `("opened", path)`, `("done", sessions)`.

When stdin ends without the close frame the proxy is gone (killed): everything it had sent is
written, the cassette is closed, and the process exits. Signals from the terminal are ignored —
Ctrl-C reaches the whole process group, and the proxy decides when the writer stops.
The writer also runs niced (`WriterSettings.niceness`): it never takes CPU the traffic needs.
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

from proxy.record_writer import RecordWriter, WriterSettings

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


class _Reporter:
    """Sends reports to the proxy; `recorded` counts are batched."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.pending = 0
        self.last = time.monotonic()

    def recorded(self) -> None:
        self.pending += 1
        if self.pending >= 64 or time.monotonic() - self.last > 0.5:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if self.pending:
            write_frame(self.out, ("recorded", self.pending))
            self.pending = 0

    def error(self, kind: str, detail: str) -> None:
        self.flush()
        write_frame(self.out, ("error", kind, detail))

    def opened(self, path: str) -> None:
        write_frame(self.out, ("opened", path))


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    ok, settings = read_frame(inp)
    if not ok or not isinstance(settings, WriterSettings):
        return 2
    # a lower CPU priority than the proxy: when the machine is busy the traffic gets the CPU
    # first and the queue absorbs the burst; the writer catches up when there is room (a
    # sustained overload shows up as `dropped`, never as slower traffic)
    if settings.niceness:
        with contextlib.suppress(OSError):
            os.nice(settings.niceness)
    if settings.niceness >= 19 and hasattr(os, "SCHED_IDLE"):
        # the lowest: Linux runs the writer only on CPU time no other task wants, and any
        # waking proxy task preempts it at once (plain nice 19 still gets time slices)
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    sys.stdout = sys.stderr  # nothing but frames may reach the proxy's pipe
    reporter = _Reporter(out)
    try:
        writer = RecordWriter(settings, reporter)
    except Exception as exc:
        write_frame(out, ("fatal", f"{type(exc).__name__}: {exc}"))
        return 1
    write_frame(out, ("ready",))
    clean = False
    fd = inp.fileno()
    while True:
        if reporter.pending and not select.select([fd], [], [], 0)[0]:
            reporter.flush()  # idle: bring the proxy's counter up to date
        ok, batch = read_frame(inp)
        if not ok:
            break  # the proxy is gone: keep what it sent, skip session derivation
        if batch is None:
            clean = True
            break
        for capture in batch if isinstance(batch, list) else (batch,):
            writer.record(capture)
    writer.close(derive=None if clean else False)
    reporter.flush()
    write_frame(out, ("done", writer.sessions_written))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The recording work itself, wherever it runs (the sink's writer thread or writer process):
turn a `Capture` into an `Exchange`, flag malformed bodies in its `problems`
(`recorder.wellformed`), redact it, append it; on a clean close, derive sessions.

Every failure is reported by kind through a `Reporter` and costs at most that one record:
a capture that cannot be converted, a redaction error (the record is then not written — never
write what could not be redacted), a full disk or an unwritable directory (the cassette is set
aside and a new one opened after `REOPEN_DELAY`), a record over the size limit. An exchange
over the limit is not lost: it is written with its bodies cut to fit (`recorder.fit`), and
reported as the warning `cut_to_fit`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from proxy.capture import Capture
from recorder.errors import RecordTooLarge
from recorder.exchange import Exchange
from recorder.fit import fit_exchange
from recorder.ledger import Ledger, add_counts
from recorder.session import Session
from recorder.wellformed import with_wellformedness_problems
from recorder.writer import CassetteWriter, Durability

REOPEN_DELAY = 1.0
"""Seconds to wait before opening a new cassette after the last one failed."""


class Redactor(Protocol):
    """What the writer needs from `recorder.redact.Redactor`."""

    policy_id: str

    def redact_exchange(self, ex: Exchange) -> Exchange: ...

    def redact_session(self, s: Session) -> Session:
        """The session with secrets a parser reassembled (split across stream chunks)
        redacted too; a redactor with nothing more to find returns it as it is."""
        ...


class Reporter(Protocol):
    """Where the writer reports what happened (metrics in the proxy process)."""

    def recorded(self) -> None:
        """One exchange was written."""

    def error(self, kind: str, detail: str) -> None:
        """One exchange was lost (not written) to a failure of this kind."""

    def warning(self, kind: str, detail: str) -> None:
        """Something failed that lost no exchange (a body cut to fit, sessions not derived)."""

    def opened(self, path: str) -> None: ...

    def progress(self) -> None:
        """Work that is not a new record happened (deriving sessions): the writer is alive."""


@dataclass(frozen=True)
class WriterSettings:
    """Everything a writer needs; plain data, so it can be sent to a writer process."""

    base: str
    """Cassette path without suffix; a reopened cassette gets `.N` appended."""
    run_id: str
    producer: str = "deploysim record"
    meta: dict[str, Any] = field(default_factory=dict)
    durability: Durability = "interval"
    rotate_bytes: int | None = None
    derive_sessions: bool = True
    redact: bool = True
    redact_rules: str | None = None
    redact_key: bytes | None = None
    niceness: int = 19
    """How much lower the writer process's CPU priority is than the proxy's (0: the same)."""


@dataclass(frozen=True)
class Carried:
    """What the proxy knows at a clean close and a writer does not: how many exchanges it
    forwarded and dropped, and what earlier writers of the run (restarted after a failure)
    recorded and lost. The closing writer adds its own counts and writes the `Ledger`."""

    forwarded: int
    dropped: dict[str, int] = field(default_factory=dict)
    record_errors: dict[str, int] = field(default_factory=dict)
    recorded: int = 0
    files: tuple[str, ...] = ()


class _Counting:
    """A reporter that also keeps this writer's own counts, for the ledger."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.recorded_n = 0
        self.errors: dict[str, int] = {}

    def recorded(self) -> None:
        self.recorded_n += 1
        self.inner.recorded()

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.inner.error(kind, detail)

    def warning(self, kind: str, detail: str) -> None:
        self.inner.warning(kind, detail)

    def opened(self, path: str) -> None:
        self.inner.opened(path)

    def progress(self) -> None:
        self.inner.progress()


def load_redactor(rules_file: str | None = None, key: bytes | None = None) -> Redactor:
    """The project's redactor: default rules plus `rules_file`, key from `resolve_key`."""
    from recorder.redact import Redactor as RecorderRedactor

    return RecorderRedactor.from_config(rules_file=rules_file, key=key)


class RecordWriter:
    """Converts, redacts and appends captures; not thread-safe (one writer per sink)."""

    def __init__(self, settings: WriterSettings, reporter: Reporter,
                 redactor: Redactor | None = None) -> None:
        self.settings = settings
        self._counts = _Counting(reporter)
        self.reporter: Reporter = self._counts
        if redactor is None and settings.redact:
            redactor = load_redactor(settings.redact_rules, settings.redact_key)
        self.redactor = redactor
        self.paths: list[str] = []
        self.recorded = 0
        self.sessions_written = 0
        self._writer: CassetteWriter | None = None
        self._generation = 0
        self._retry_at = 0.0
        self._seq = 0

    def record(self, capture: Capture) -> None:
        """Convert, redact and append one capture; failures are reported, never raised."""
        self._seq += 1
        try:
            exchange = capture.to_exchange(f"{self.settings.run_id}-{self._seq:06d}")
            # flagged now, on the bytes as captured: a written exchange is never rewritten
            exchange = with_wellformedness_problems(exchange)
        except Exception as exc:  # a capture bug must cost one record, not the proxy
            self.reporter.error("capture", repr(exc))
            return
        if self.redactor is not None:
            try:
                exchange = self.redactor.redact_exchange(exchange)
            except Exception as exc:  # never write what could not be redacted
                self.reporter.error("redact", repr(exc))
                return
        if self._write(exchange):
            self.recorded += 1
            self.reporter.recorded()

    def close(self, *, derive: bool | None = None, carried: Carried | None = None) -> None:
        """Append derived sessions (unless told not to), the run's ledger, close the cassette.

        `carried` comes with a clean close (the proxy stopped the run); without it the writer
        found its proxy gone and writes a ledger saying so (`clean=False`), unless it wrote
        nothing at all."""
        try:
            if self.settings.derive_sessions if derive is None else derive:
                self._append_sessions()
        finally:
            try:
                if self.recorded or (carried is not None and carried.forwarded):
                    self._append_ledger(carried)
            finally:
                writer, self._writer = self._writer, None
                if writer is not None:
                    self._note_paths(writer)
                    try:
                        writer.close()
                    except Exception as exc:
                        self.reporter.warning(f"close_{type(exc).__name__}", str(exc))

    def ledger(self, carried: Carried | None) -> Ledger:
        """The run's closing record: what `carried` says plus this writer's own counts."""
        own = self._counts
        names = [os.path.basename(p) for p in self.paths]
        return Ledger(
            run_id=self.settings.run_id, closed_at=time.time(), clean=carried is not None,
            forwarded=carried.forwarded if carried is not None else None,
            recorded=own.recorded_n + (carried.recorded if carried is not None else 0),
            dropped=dict(sorted(carried.dropped.items())) if carried is not None else {},
            record_errors=add_counts(carried.record_errors if carried else {}, own.errors),
            files=[*(carried.files if carried is not None else ()),
                   *(n for n in names if carried is None or n not in carried.files)],
        )

    def _append_ledger(self, carried: Carried | None) -> None:
        # a failure is a warning: the exchanges are safe, and verify says the ledger is missing
        self._write(self.ledger(carried))

    # -- cassettes -------------------------------------------------------------------------

    def _write(self, record: Any) -> bool:
        writer = self._current(record)
        if writer is None:
            return False  # reported by `_current` (open failure or waiting to retry)
        try:
            try:
                writer.write(record)
            except RecordTooLarge:
                if not isinstance(record, Exchange):
                    raise
                # keep the first part of each body rather than lose the whole exchange
                record = fit_exchange(record, writer.max_record)
                writer.write(record)  # still too large (giant headers): counted as too_large
                self.reporter.warning("cut_to_fit", record.problems[-1])
            self._note_paths(writer)  # rotation may have opened a new file
            return True
        except RecordTooLarge as exc:
            self._failed(record, "too_large", str(exc))
        except OSError as exc:
            self._failed(record, f"write_{_errno_name(exc)}", str(exc))
            # the file may now end in a torn frame: set it aside, start a fresh one later
            self._abandon()
        except Exception as exc:
            self._failed(record, "encode", repr(exc))
        return False

    def _failed(self, record: Any, kind: str, detail: str) -> None:
        """A record was not written: a lost exchange is an error (the ledger counts it); a
        session or the ledger is a warning (the exchanges are safe, sessions can be redone)."""
        if isinstance(record, Exchange):
            self.reporter.error(kind, detail)
        else:
            self.reporter.warning(f"{record.kind}_{kind}", detail)

    def _current(self, record: Any) -> CassetteWriter | None:
        if self._writer is not None:
            return self._writer
        if time.monotonic() < self._retry_at:
            self._failed(record, "no_cassette", "waiting to retry opening a cassette after a "
                         "failure")
            return None
        s = self.settings
        suffix = "" if self._generation == 0 else f".{self._generation}"
        self._generation += 1
        try:
            self._writer = CassetteWriter(
                s.base + suffix + ".cassette", producer=s.producer,
                redaction_policy=self.redactor.policy_id if self.redactor else None,
                meta={"run_id": s.run_id, **s.meta}, durability=s.durability,
                rotate_bytes=s.rotate_bytes,
            )
        except OSError as exc:
            self._failed(record, f"open_{_errno_name(exc)}", str(exc))
            self._retry_at = time.monotonic() + REOPEN_DELAY
            return None
        self._note_paths(self._writer)
        return self._writer

    def _abandon(self) -> None:
        writer, self._writer = self._writer, None
        self._retry_at = time.monotonic() + REOPEN_DELAY
        if writer is not None:
            self._note_paths(writer)
            with contextlib.suppress(Exception):  # already failing; the error was reported
                writer.close()

    def _note_paths(self, writer: CassetteWriter) -> None:
        for p in writer.paths:
            if p not in self.paths:
                self.paths.append(p)
                self.reporter.opened(p)

    # -- sessions --------------------------------------------------------------------------

    def _append_sessions(self) -> None:
        """Derive sessions from this run's exchanges and append them (clean close only).

        The exchanges are read back twice, streamed (`recorder.derive.SessionStream`), and each
        session is written as soon as it is built: memory holds what threading needs, not the
        recording. Progress is reported while deriving, since the proxy waits for a closing
        writer only as long as it makes progress."""
        stream = session_deriver()
        if stream is None or not self.recorded:
            return
        paths = list(self.paths)  # writing sessions may rotate to new files: not to be read
        try:
            for session in stream(lambda: _read_exchanges(paths),
                                  lambda _stage, _done: self.reporter.progress()):
                if self.redactor is not None:
                    # sessions are built from redacted exchanges; redacting again keeps any text
                    # a parser reassembled (a secret split across stream chunks) off the disk too
                    try:
                        session = self.redactor.redact_session(session)
                    except Exception as exc:
                        self.reporter.warning("redact_session", repr(exc))
                        continue
                if self._write(session):
                    self.sessions_written += 1
        except Exception as exc:  # a parser bug: the exchanges are safe, sessions can be redone
            self.reporter.warning("derive", repr(exc))


SessionDeriver = Callable[[Callable[[], Iterable[Exchange]], Callable[[str, int], None]],
                          Iterable[Any]]
"""(re-readable exchanges, progress callback) → the sessions, one at a time."""


def session_deriver() -> SessionDeriver | None:
    """`recorder.derive.SessionStream` as a `SessionDeriver`, or None where it is missing."""
    try:
        from recorder.derive import SessionStream
    except ImportError:
        return None
    return lambda source, progress: SessionStream(source, progress=progress)


def _read_exchanges(paths: list[str]) -> Iterator[Exchange]:
    from recorder import storage
    from recorder.reader import CassetteReader

    for path in paths:
        if storage.exists(path):
            for record in CassetteReader(path):
                if isinstance(record, Exchange):
                    yield record


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)

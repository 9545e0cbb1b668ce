"""Append-only cassette writer with a durability policy and rotation by size."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from typing import IO, Any, Literal

from recorder import codec, framing, storage
from recorder.errors import RecordTooLarge
from recorder.header import CassetteHeader
from recorder.records import record_to_obj
from recorder.version import __version__

Durability = Literal["record", "interval", "close"]
SUFFIX = ".cassette"


class CassetteWriter:
    """Writes records to one cassette file, or to a numbered series when rotating by size.

    `durability`: `record` fsyncs after every record (slow, loses nothing on power loss),
    `interval` fsyncs at most every `fsync_interval` seconds, `close` only when closing. Every
    policy flushes Python's buffer after each record, so a killed *process* (SIGKILL) loses at
    most the record being written.

    >>> with CassetteWriter("out/rec.cassette", producer="example") as w:   # doctest: +SKIP
    ...     w.write(exchange)
    """

    def __init__(
        self,
        path: str,
        *,
        producer: str = "deploysim",
        redaction_policy: str | None = None,
        meta: dict[str, Any] | None = None,
        durability: Durability = "interval",
        fsync_interval: float = 1.0,
        rotate_bytes: int | None = None,
        max_record: int = framing.DEFAULT_MAX_RECORD,
    ) -> None:
        self._base = path[: -len(SUFFIX)] if path.endswith(SUFFIX) else path
        self._rotating = rotate_bytes is not None
        self.producer = producer
        self.redaction_policy = redaction_policy
        self.meta = dict(meta or {})
        self.durability = durability
        self.fsync_interval = fsync_interval
        self.rotate_bytes = rotate_bytes
        self.max_record = max_record
        self.paths: list[str] = []
        self.records_written = 0
        self._file: IO[bytes] | None = None
        self._file_bytes = 0
        self._last_sync = time.monotonic()
        self._open_next()

    @property
    def path(self) -> str:
        """The file currently written to."""
        return self.paths[-1]

    def _open_next(self) -> None:
        if self._file is not None:
            self._close_file()
        if self._rotating:
            path = f"{self._base}-{len(self.paths):05d}{SUFFIX}"
        else:
            path = self._base + SUFFIX
        parent = os.path.dirname(path)
        if parent:
            storage.makedirs(parent)
        self._file = storage.open_binary(path, "wb")
        self.paths.append(path)
        self._file.write(framing.MAGIC)
        self._file_bytes = len(framing.MAGIC)
        header = CassetteHeader(
            created=time.time(),
            producer=self.producer,
            deploysim_version=__version__,
            redaction_policy=self.redaction_policy,
            meta=self.meta,
        )
        self._write_frame(codec.encode(record_to_obj(header)))

    def write(self, record: Any) -> None:
        """Append one record (Exchange, Session or Annotation)."""
        self.write_payload(codec.encode(record_to_obj(record)))

    def write_many(self, records: Iterable[Any]) -> None:
        for r in records:
            self.write(r)

    def write_payload(self, payload: bytes) -> None:
        """Append an already-encoded record payload (used by repair and fast paths)."""
        if len(payload) > self.max_record:
            raise RecordTooLarge(
                f"A record of {len(payload)} bytes exceeds the {self.max_record}-byte limit for "
                f"{self.path}; raise max_record or split the record."
            )
        if (
            self.rotate_bytes is not None
            and self.records_written
            and self._file_bytes + len(payload) + framing.HEADER_SIZE > self.rotate_bytes
        ):
            self._open_next()
        self._write_frame(payload)
        self.records_written += 1

    def _write_frame(self, payload: bytes) -> None:
        assert self._file is not None
        data = framing.frame(payload)
        self._file.write(data)
        self._file.flush()
        self._file_bytes += len(data)
        if self.durability == "record":
            self._fsync()
        elif self.durability == "interval":
            now = time.monotonic()
            if now - self._last_sync >= self.fsync_interval:
                self._fsync()
                self._last_sync = now

    def _fsync(self) -> None:
        assert self._file is not None
        # fsspec file systems have no file descriptor; their close() is the commit
        with contextlib.suppress(OSError, AttributeError, ValueError, NotImplementedError):
            os.fsync(self._file.fileno())

    def flush(self) -> None:
        """Flush and fsync the current file."""
        if self._file is not None:
            self._file.flush()
            self._fsync()

    def _close_file(self) -> None:
        assert self._file is not None
        self._file.flush()
        self._fsync()
        self._file.close()
        self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._close_file()

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Streaming cassette reader: memory bounded by the largest record, damage reported not hidden.

A reader yields every intact record in order. Damage becomes a `Problem`:
- `torn_tail`: the file ends inside a frame (a crash mid-write); everything before it is read.
- `corrupt`: bytes that do not form a valid frame; the reader resynchronises on the next frame
  whose checksum holds and reports the skipped range.
- `too_large`: a frame declaring more than `max_record` bytes (treated like corruption).
- `undecodable` / `invalid`: a frame whose checksum holds but whose payload is not a record of
  this format; skipped, the next frame read normally.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any

from pydantic import ValidationError

from recorder import codec, framing, storage
from recorder.errors import CorpusNotFound, NotACassette, UnsupportedFormat
from recorder.header import FORMAT_VERSION, CassetteHeader
from recorder.records import Record, record_from_obj

CHUNK = 1 << 20


@dataclass(frozen=True)
class Problem:
    """Damage found in a cassette."""

    path: str
    offset: int
    kind: str
    message: str
    skipped_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}@{self.offset}: {self.message}"


class _Window:
    """A sliding window over a binary stream; offsets are absolute file offsets."""

    def __init__(self, f: IO[bytes], base: int) -> None:
        self._f = f
        self._buf = bytearray()
        self._start = 0  # index in _buf of `pos`
        self.pos = base
        self.eof = False

    def available(self) -> int:
        return len(self._buf) - self._start

    def fill(self, n: int) -> bool:
        """Make at least n bytes from `pos` available; False if the stream ends first."""
        while self.available() < n and not self.eof:
            if self._start > CHUNK:
                del self._buf[: self._start]
                self._start = 0
            data = self._f.read(max(CHUNK, n - self.available()))
            if not data:
                self.eof = True
            else:
                self._buf += data
        return self.available() >= n

    def peek(self, n: int, at: int = 0) -> bytes:
        s = self._start + at
        return bytes(self._buf[s : s + n])

    def advance(self, n: int) -> None:
        self._start += n
        self.pos += n

    def find(self, needle: bytes, at: int) -> int:
        """Relative index of the next `needle` at or after relative index `at`, reading on."""
        while True:
            i = self._buf.find(needle, self._start + at)
            if i >= 0:
                return i - self._start
            if self.eof:
                return -1
            at = max(at, self.available() - len(needle) + 1)
            self.fill(self.available() + CHUNK)


class CassetteReader:
    """Reads one cassette file as a stream of records.

    >>> r = CassetteReader("rec.cassette")       # doctest: +SKIP
    >>> for record in r: ...                     # typed records (header excluded)
    >>> r.problems                               # damage found so far
    """

    def __init__(self, path: str, *, max_record: int = framing.DEFAULT_MAX_RECORD) -> None:
        self.path = path
        self.max_record = max_record
        self.problems: list[Problem] = []
        self.header: CassetteHeader | None = None
        self.records_read = 0
        if not storage.exists(path):
            raise CorpusNotFound(f"Cassette {path} does not exist; check the path.")
        self._size = storage.size(path)

    # -- frames ---------------------------------------------------------------------------

    def _problem(self, offset: int, kind: str, message: str, skipped: int = 0) -> None:
        self.problems.append(Problem(self.path, offset, kind, message, skipped))

    def _frame_at(self, w: _Window, rel: int) -> tuple[int, bytes | None]:
        """Try to read a frame at relative index `rel`: (frame size, payload) or (0, None)."""
        if not w.fill(rel + framing.HEADER_SIZE):
            return 0, None
        sync, length, crc = framing.FRAME_HEADER.unpack(w.peek(framing.HEADER_SIZE, rel))
        if sync != framing.SYNC or length > self.max_record:
            return 0, None
        if not w.fill(rel + framing.HEADER_SIZE + length):
            return 0, None
        payload = w.peek(length, rel + framing.HEADER_SIZE)
        if not framing.check(struct.pack("<I", length), crc, payload):
            return 0, None
        return framing.HEADER_SIZE + length, payload

    def _damage(self, w: _Window) -> bool:
        """Handle damage at w.pos: report it and resynchronise. False when the file ends."""
        start = w.pos
        head = w.peek(framing.HEADER_SIZE) if w.fill(framing.HEADER_SIZE) else w.peek(w.available())
        declared: int | None = None
        if len(head) >= 8 and head[:4] == framing.SYNC:
            declared = struct.unpack("<I", head[4:8])[0]
        rel = 1
        while True:
            rel = w.find(framing.SYNC, rel)
            if rel < 0:
                break
            size, _ = self._frame_at(w, rel)
            if size:
                break
            rel += 1
        if rel < 0:  # nothing valid after the damage: it runs to the end of the file
            skipped = self._size - start
            if head[:4] == framing.SYNC[: len(head[:4])] and (
                len(head) < framing.HEADER_SIZE
                or (declared is not None and declared <= self.max_record and start
                    + framing.HEADER_SIZE + declared > self._size)
            ):
                self._problem(start, "torn_tail", f"the file ends inside a record "
                              f"({skipped} bytes at the end are an incomplete record)", skipped)
            elif declared is not None and declared > self.max_record:
                self._problem(start, "too_large", f"a record declares {declared} bytes, over the "
                              f"{self.max_record}-byte limit; {skipped} bytes skipped", skipped)
            else:
                self._problem(start, "corrupt", f"{skipped} corrupted bytes up to the end of the "
                              "file were skipped", skipped)
            w.advance(w.available())
            return False
        if declared is not None and declared > self.max_record:
            self._problem(start, "too_large", f"a record declares {declared} bytes, over the "
                          f"{self.max_record}-byte limit; {rel} bytes skipped", rel)
        else:
            self._problem(start, "corrupt", f"{rel} corrupted bytes skipped; reading resumed at "
                          f"offset {start + rel}", rel)
        w.advance(rel)
        return True

    def iter_payloads(self) -> Iterator[tuple[int, bytes]]:
        """Every intact frame payload with its offset, header frame included."""
        self.problems.clear()
        with storage.open_binary(self.path, "rb") as f:
            magic = f.read(len(framing.MAGIC))
            if magic != framing.MAGIC:
                if len(magic) < len(framing.MAGIC) and framing.MAGIC.startswith(magic):
                    self._problem(len(magic), "torn_tail", "the file ends before its first record "
                                  "(it was cut while being created)", 0)
                    return
                raise NotACassette(
                    f"{self.path} is not a deploysim cassette (it does not start with the "
                    "cassette magic); point deploysim at .cassette files written by deploysim."
                )
            w = _Window(f, len(framing.MAGIC))
            unpack_from = framing.FRAME_HEADER.unpack_from
            crc32 = zlib.crc32
            if not w.fill(1):  # magic but no header: cut between the two while being created
                self._problem(w.pos, "torn_tail", "the file ends before its header record (it "
                              "was cut while being created)", 0)
                return
            while True:
                # Fast path: a whole, intact frame already in the window (the common case).
                buf, start = w._buf, w._start
                if len(buf) - start >= framing.HEADER_SIZE:
                    sync, length, crc = unpack_from(buf, start)
                    end = start + framing.HEADER_SIZE + length
                    if sync == framing.SYNC and length <= self.max_record and len(buf) >= end:
                        payload = bytes(buf[start + framing.HEADER_SIZE : end])
                        if crc32(payload, crc32(buf[start + 4 : start + 8])) == crc:
                            offset = w.pos
                            w.advance(end - start)
                            yield offset, payload
                            continue
                if not w.fill(1):
                    return
                size, found = self._frame_at(w, 0)
                if found is None:
                    if not self._damage(w):
                        return
                    continue
                offset = w.pos
                w.advance(size)
                yield offset, found

    def iter_objs(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every intact record in plain form (dicts), header excluded; fastest way to scan."""
        first = True
        for offset, payload in self.iter_payloads():
            try:
                obj = codec.decode(payload)
            except ValueError as exc:
                self._problem(offset, "undecodable", f"a record could not be decoded ({exc})")
                continue
            if first:
                first = False
                if obj.get("kind") == "header":
                    self._check_header(obj)
                    continue
                self._problem(offset, "invalid", "the cassette has no header record")
            self.records_read += 1
            yield offset, obj

    def _check_header(self, obj: dict[str, Any]) -> None:
        version = obj.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise UnsupportedFormat(
                f"{self.path} uses cassette format {version}, newer than this deploysim reads "
                f"({FORMAT_VERSION}); upgrade deploysim to read it."
            )
        try:
            self.header = CassetteHeader.model_validate(obj)
        except ValidationError as exc:
            self._problem(0, "invalid", f"the header record is invalid ({_first_error(exc)})")

    def typed(self, offset: int, obj: dict[str, Any]) -> Record | None:
        """Validate one plain record; None (and a problem reported) when it does not match."""
        try:
            return record_from_obj(obj)
        except ValidationError as exc:
            self._problem(offset, "invalid", f"a {obj.get('kind')!r} record does not match "
                          f"the format ({_first_error(exc)})")
            return None

    def __iter__(self) -> Iterator[Record]:
        """Every intact record, typed, header excluded."""
        return (r for offset, obj in self.iter_objs()
                if (r := self.typed(offset, obj)) is not None)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return f"{loc}: {err['msg']}"

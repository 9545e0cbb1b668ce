"""Content-encoding of HTTP bodies: decode (gzip, deflate, br, zstd) for parsing and redaction,
and re-encode so a redacted body still matches its `Content-Encoding` header.

The raw bytes of an exchange are kept as recorded; parsers work on the decoded copy. Streamed
bodies are decoded chunk by chunk with incremental decoders so each decoded piece keeps the
arrival time of the chunk that carried it, and re-encoded with a sync flush after every chunk so
the concatenation is one valid stream again.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Protocol

import brotli
import zstandard

from recorder.exchange import Header

SUPPORTED = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")


class BodyDecodeError(ValueError):
    """A body that does not decode with the encodings its headers declare."""


def header_value(headers: Iterable[Header], name: str) -> str | None:
    """The first value of header `name` (case-insensitive), or None."""
    lname = name.lower()
    if lname.isascii():
        # only a name of the same length can lower-case to an ASCII name (the one character
        # whose lower case is longer, U+0130, lowers to non-ASCII), so most are skipped unlowered
        n = len(lname)
        for k, v in headers:
            if len(k) == n and k.lower() == lname:
                return v
        return None
    for k, v in headers:
        if k.lower() == lname:
            return v
    return None


def encodings_of(headers: Iterable[Header]) -> list[str]:
    """The content-codings applied to a body, in the order they were applied."""
    value = header_value(headers, "content-encoding")
    if not value:
        return []
    codings = (e.strip().lower() for e in value.split(","))
    return [e for e in codings if e not in ("", "identity")]


class _Decoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def end(self) -> bytes: ...


class _ZlibDecoder:
    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._d = zlib.decompressobj(wbits)
        self._started = False
        self._fallback = wbits == 15  # HTTP "deflate" is zlib-wrapped, but some servers send raw

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._d.decompress(data)
        except zlib.error:
            if self._fallback and not self._started:
                self._fallback = False
                self._d = zlib.decompressobj(-15)
                out = self._d.decompress(data)
            else:
                raise
        self._started = self._started or bool(data)
        return out

    def end(self) -> bytes:
        return self._d.flush()


class _BrotliDecoder:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        return bytes(self._d.process(data))

    def end(self) -> bytes:
        return b""


class _ZstdDecoder:
    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        return bytes(self._d.decompress(data))

    def end(self) -> bytes:
        return b""


def _decoder(encoding: str) -> _Decoder:
    if encoding in ("gzip", "x-gzip"):
        return _ZlibDecoder(31)
    if encoding == "deflate":
        return _ZlibDecoder(15)
    if encoding == "br":
        return _BrotliDecoder()
    if encoding == "zstd":
        return _ZstdDecoder()
    raise BodyDecodeError(f"unsupported content-encoding {encoding!r}")


def decode_chunks(chunks: Sequence[bytes], encodings: Sequence[str]) -> list[bytes]:
    """Decode a streamed body piece by piece: one decoded piece per input chunk.

    Raises BodyDecodeError when the bytes do not decode.
    """
    pieces = list(chunks)
    for encoding in reversed(encodings):  # the last coding applied is undone first
        decoder = _decoder(encoding)
        try:
            out = [decoder.feed(p) for p in pieces]
            tail = decoder.end()
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            raise BodyDecodeError(f"{encoding} body does not decode ({exc})") from exc
        if out:
            out[-1] += tail
        pieces = out
    return pieces


def decode_body(data: bytes, encodings: Sequence[str]) -> bytes:
    """Decode a whole body; raises BodyDecodeError when it does not decode."""
    if not encodings or not data:
        return data
    return b"".join(decode_chunks([data], encodings))


class _Encoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _ZlibEncoder:
    def __init__(self, wbits: int) -> None:
        self._c = zlib.compressobj(wbits=wbits)

    def feed(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush()


class _BrotliEncoder:
    def __init__(self) -> None:
        self._c = brotli.Compressor()

    def feed(self, data: bytes) -> bytes:
        return bytes(self._c.process(data)) + bytes(self._c.flush())

    def finish(self) -> bytes:
        return bytes(self._c.finish())


class _ZstdEncoder:
    def __init__(self) -> None:
        self._c = zstandard.ZstdCompressor().compressobj()

    def feed(self, data: bytes) -> bytes:
        return bytes(self._c.compress(data)) + bytes(
            self._c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))

    def finish(self) -> bytes:
        return bytes(self._c.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))


def _encoder(encoding: str) -> _Encoder:
    if encoding in ("gzip", "x-gzip"):
        return _ZlibEncoder(31)
    if encoding == "deflate":
        return _ZlibEncoder(15)
    if encoding == "br":
        return _BrotliEncoder()
    if encoding == "zstd":
        return _ZstdEncoder()
    raise BodyDecodeError(f"unsupported content-encoding {encoding!r}")


def encode_chunks(chunks: Sequence[bytes], encodings: Sequence[str]) -> list[bytes]:
    """Encode pieces so that their concatenation is one valid stream (sync flush per piece)."""
    pieces = list(chunks)
    for encoding in encodings:
        encoder = _encoder(encoding)
        out = [encoder.feed(p) for p in pieces]
        tail = encoder.finish()
        if out:
            out[-1] += tail
        else:
            out = [tail]
        pieces = out
    return pieces


def encode_body(data: bytes, encodings: Sequence[str]) -> bytes:
    """Encode a whole body with the given codings (applied in order)."""
    if not encodings:
        return data
    return b"".join(encode_chunks([data], encodings))

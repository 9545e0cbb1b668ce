"""Payload codec: records as msgpack maps (bytes kept as msgpack bin, never base64).

This is the one place that knows the payload encoding. `encode`/`decode` turn a whole record's
plain form into bytes and back; `pack`, `map_header`, `array_header` and `fixstr` give the same
encoding piece by piece, for writers that assemble records from pre-encoded parts (a msgpack
map is its header followed by its keys and values, an array its header followed by its items,
so the pieces joined are byte for byte what `encode` gives for the whole).
"""

from __future__ import annotations

from typing import Any

import msgpack

# One packer is reused (building one per call costs more than packing a small value): without a
# `default` hook it runs no Python code mid-pack, so a thread switch cannot land inside a call.
_PACKER = msgpack.Packer(use_bin_type=True, datetime=False)


def encode(obj: dict[str, Any]) -> bytes:
    """Serialise a record's plain form."""
    return _PACKER.pack(obj)


def decode(payload: bytes) -> dict[str, Any]:
    """Deserialise a payload into a record's plain form; raises ValueError when it is not one."""
    obj = unpack(payload)
    if not isinstance(obj, dict) or "kind" not in obj:
        raise ValueError("payload is not a record (no 'kind')")
    return obj


def pack(value: Any, *, stringify_unknown: bool = False) -> bytes:
    """Encode one value as `encode` encodes it inside a record. With `stringify_unknown`, a value
    msgpack has no type for is stored as its `str()` instead of raising."""
    if stringify_unknown:  # `default` runs Python code: a packer of its own per call
        data: bytes = msgpack.packb(value, use_bin_type=True, datetime=False, default=str)
        return data
    return _PACKER.pack(value)


def unpack(data: bytes) -> Any:
    """Decode one value; raises ValueError when `data` is not exactly one msgpack value."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise ValueError(f"payload is not msgpack: {exc}") from exc


def map_header(n: int) -> bytes:
    """The header of a map of `n` entries (its keys and values follow)."""
    return _PACKER.pack_map_header(n)


def array_header(n: int) -> bytes:
    """The header of an array of `n` items (its items follow)."""
    return _PACKER.pack_array_header(n)


def fixstr(text: str) -> bytes:
    """`pack(text)` for an ASCII string under 32 bytes, without a packer call: writers that
    encode an id per record use it (the id's hex digits are always of this kind)."""
    data = text.encode("ascii")
    if len(data) > 31:
        raise ValueError(f"fixstr holds at most 31 bytes, got {len(data)}")
    return bytes((0xA0 | len(data),)) + data

"""Payload codec: records as msgpack maps (bytes kept as msgpack bin, never base64)."""

from __future__ import annotations

from typing import Any

import msgpack


def encode(obj: dict[str, Any]) -> bytes:
    """Serialise a record's plain form."""
    data: bytes = msgpack.packb(obj, use_bin_type=True, datetime=False)
    return data


def decode(payload: bytes) -> dict[str, Any]:
    """Deserialise a payload into a record's plain form; raises ValueError when it is not one."""
    try:
        obj = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise ValueError(f"payload is not msgpack: {exc}") from exc
    if not isinstance(obj, dict) or "kind" not in obj:
        raise ValueError("payload is not a record (no 'kind')")
    return obj

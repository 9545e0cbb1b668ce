"""JSON Schema of the cassette records (framing is documented in docs/cassette-format.md)."""

from __future__ import annotations

from typing import Any

from recorder import framing
from recorder.header import FORMAT_VERSION
from recorder.records import RECORD_ADAPTER


def cassette_schema() -> dict[str, Any]:
    schema = RECORD_ADAPTER.json_schema(mode="validation")
    schema["title"] = "deploysim cassette record"
    schema["description"] = (
        f"Format version {FORMAT_VERSION}. A cassette file is the magic bytes "
        f"{framing.MAGIC!r} followed by frames SYNC(4)={framing.SYNC.hex()} LENGTH(u32 LE) "
        "CRC32(u32 LE, over LENGTH+PAYLOAD) PAYLOAD, each payload one msgpack-encoded record "
        "of this schema; the first record is the header. `bytes` fields are msgpack bin."
    )
    return schema

"""Repair: copy every intact record of a damaged cassette into a new one."""

from __future__ import annotations

from recorder import codec
from recorder.reader import CassetteReader, Problem
from recorder.writer import CassetteWriter


def repair(src: str, dst: str) -> tuple[int, list[Problem]]:
    """Copy intact records from `src` to `dst`; returns (records copied, problems dropped)."""
    reader = CassetteReader(src)
    objs = reader.iter_objs()
    first = next(objs, None)  # reads the header before we create the writer
    header = reader.header
    writer = CassetteWriter(
        dst,
        producer=f"deploysim cassette repair (from {header.producer if header else 'unknown'})",
        redaction_policy=header.redaction_policy if header else None,
        meta={**(header.meta if header else {}), "repaired_from": src},
        durability="close",
    )
    copied = 0
    with writer:
        if first is not None:
            writer.write_payload(codec.encode(first[1]))
            copied += 1
        for _offset, obj in objs:
            writer.write_payload(codec.encode(obj))
            copied += 1
    return copied, list(reader.problems)

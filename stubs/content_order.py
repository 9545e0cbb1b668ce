"""Content order: an order of a tool's recordings that follows what was recorded, not when.

Concurrent sessions land in a cassette interleaved by timing, so recording the same traffic
twice can give the same calls in another order. The fallbacks (`nearest`, `synthesize`,
`simulate`) sample and rank a tool's recordings; doing that in recorded order would make their
answers depend on that interleaving. In content order they depend only on what was recorded:
keys are ranked by a stable digest of the key (a spread-out sample, unlike sorting the
arguments alphabetically), and a key's recordings by their response, session and position.

Recorded order still decides what it means: which of a call's recordings answers its n-th
repeat (`stubs.repeat`) and which are older (`stale`).
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Hashable

from stubs.index import StubIndex, ToolTable
from stubs.reply import Row


def key_rank(key: Hashable) -> tuple[int, bool, bytes | str]:
    """A key's place in content order: crc32 of the key (Python's own hash of bytes and str is
    salted per process), then the key itself for the rare digests that collide."""
    if type(key) is bytes:
        return zlib.crc32(key), True, key
    text = repr(key)  # a frozen form or a custom matcher's key: tuples of JSON scalars
    return zlib.crc32(text.encode("utf-8", "surrogatepass")), False, text


def keys_in_content_order(table: ToolTable, limit: int | None = None) -> list[Hashable]:
    """A tool's distinct keys in content order; with `limit`, the first `limit` of them."""
    if limit is None:
        return sorted(table.keys, key=key_rank)
    return heapq.nsmallest(limit, table.keys, key=key_rank)


def rows_in_content_order(index: StubIndex, table: ToolTable,
                          limit: int) -> list[tuple[int, Row]]:
    """The first `limit` of a tool's recordings in content order — keys in content order, a
    key's recordings by response, session and call position — as (row number, row)."""
    out: list[tuple[int, Row]] = []
    for key in keys_in_content_order(table, limit):
        if len(out) >= limit:
            break
        out.extend(sorted(((r, index.row(r)) for r in table.rows_of(key)),
                          key=_recording_rank))
    return out[:limit]


def first_recording(index: StubIndex, table: ToolTable, key: Hashable) -> Row:
    """A key's first recording in content order."""
    return min(((r, index.row(r)) for r in table.rows_of(key)), key=_recording_rank)[1]


def recording_rank(item: tuple[int, Row]) -> tuple[str, str, int, str]:
    """A recording's place among a key's recordings in content order: response, session,
    call position."""
    return _recording_rank(item)


def _recording_rank(item: tuple[int, Row]) -> tuple[str, str, int, str]:
    _, row = item
    return row.content, row.session or "", row.call_index, repr(row.structured)

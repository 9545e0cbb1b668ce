"""The garbage collector while a shard replays.

A shard allocates a great many short-lived objects (messages, request bodies, records, HTTP
machinery) beside a large long-lived heap (the corpus's sessions, the stub index, the memos).
With CPython's default thresholds (700, 10, 10) a young collection runs every few hundred
allocations, and every tenth of those ages objects onward, so the collector ends up walking
the long-lived heap over and over: about a sixth of a replaying process's CPU on the
throughput benchmark (0.3–0.4 s of collections per 2,000 turns). During a shard's run the
long-lived heap is frozen (`gc.freeze`: the collector skips it; nothing in it is garbage
while the run uses it) and young collections run every 10,000 allocations instead of 700.
Reference counting still frees everything that is not in a cycle at once; cycles are still
collected, a little later. Both are undone when the run ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 10_000
"""Allocations between young collections while a shard runs (CPython's default: 700)."""


_active = 0
"""Blocks open now (replays overlapping in one process share one setting)."""
_saved: tuple[int, ...] = ()
"""The thresholds before the first open block."""


@contextmanager
def replay_collector(young: int = YOUNG) -> Iterator[None]:
    """Freeze what exists now and collect the young generation less often, until the block
    ends. Blocks may overlap (two replays in one event loop): the first to open applies the
    setting, the last to close undoes it. Undoing unfreezes everything frozen (CPython offers
    no partial unfreeze): what the run froze, and whatever was frozen before it, goes back to
    the oldest generation, where it is still alive and merely looked at again by full
    collections."""
    global _active, _saved
    if _active == 0:
        _saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(_saved[0], young), *_saved[1:])
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0:
            gc.set_threshold(*_saved)
            gc.unfreeze()

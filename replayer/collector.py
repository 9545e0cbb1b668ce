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


@contextmanager
def replay_collector(young: int = YOUNG) -> Iterator[None]:
    """Freeze what exists now and collect the young generation less often, until the block
    ends. Leaving it unfreezes everything frozen (CPython offers no partial unfreeze): what
    the run froze, and whatever was frozen before it, goes back to the oldest generation,
    where it is still alive and merely looked at again by full collections."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], young), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()

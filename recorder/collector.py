"""The one place deploysim changes Python's garbage collector, each setting with the end-to-end
figure that keeps it (docs/performance.md, "Removed fast paths": every other process-wide
setting made for speed was measured and removed).

- `paused()`: deriving sessions in memory (`recorder.derive.derive`). Deriving allocates
  millions of small objects while the whole corpus is alive, and every full collection
  re-scans them all. Without the pause `bench/derive.py --mb 20` spent 58% more CPU deriving
  in memory (2.23 against 1.41 s, median of 5 alternating runs, 6 Dec 2026). The streamed
  derivation (`SessionStream`, used by the recorder and `sessions rederive`) gained only 5-7%
  from it and runs without it.
- `replay_collector()`: a replay shard (`replayer.shard.run_shard`). A shard allocates a great
  many short-lived objects beside a large long-lived heap (the corpus's sessions, the stub
  index, the run's memos); with CPython's default thresholds (700, 10, 10) the collector walks
  that heap again and again. Without the setting a whole `deploysim replay` command
  (`bench/replay_endpoint.py --latency 0.2 --concurrency 256 --turns 10000`) spent 16% more
  CPU a turn (0.856 against 0.738 ms, medians of 3 alternating runs, 6 Dec 2026).
  `deploysim replay` enters it as soon as it has read what it keeps for the whole run (the
  sessions, the stub index), which it reads under `paused()`, so the freeze takes that heap
  whole and no collection walks it: against a replay that read it with the collector on, the
  whole command ran 996 against 906 turns/s and spent 0.638 against 0.728 ms of CPU a turn
  (-12%), the execution phase unchanged (`bench/ab.py --only replay_endpoint --repeat 3`,
  medians, 6 Dec 2026; a pause without the freeze gained 6% and cost the execution phase 12%).

Both are undone when their block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 10_000
"""Allocations between young collections while a shard runs (CPython's default: 700)."""

_active = 0
"""`replay_collector` blocks open now (replays overlapping in one process share one setting)."""
_saved: tuple[int, ...] = ()
"""The thresholds before the first open block."""


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic collector for the block. Reference counting still frees everything
    not in a cycle; the few cycles made meanwhile are freed once the collector runs again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def replay_collector(young: int = YOUNG) -> Iterator[None]:
    """Freeze what exists now (`gc.freeze`: the collector skips it; nothing in it is garbage
    while the run uses it) and collect the young generation every `young` allocations, until
    the block ends; cycles are still collected, a little later. Blocks may overlap (two
    replays in one event loop): the first to open applies the setting, the last to close
    undoes it. Undoing unfreezes everything frozen (CPython offers no partial unfreeze): what
    the run froze, and whatever was frozen before it, goes back to the oldest generation,
    where it is still alive and merely looked at again by full collections."""
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

"""The collector settings a shard runs under: applied for the block, undone after it."""

from __future__ import annotations

import gc
import weakref

from replayer.collector import YOUNG, replay_collector


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_thresholds_and_freeze_hold_for_the_block_only() -> None:
    before = gc.get_threshold()
    heap = [_Node() for _ in range(1000)]  # the long-lived heap a run starts with
    frozen_before = gc.get_freeze_count()
    with replay_collector():
        assert gc.get_threshold()[0] == max(before[0], YOUNG)
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() >= frozen_before + len(heap)  # left alone by the collector
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert all(gc.is_tracked(n) for n in heap)  # back under the collector, still alive


def test_cycles_made_during_the_run_are_still_collected() -> None:
    with replay_collector():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()
        assert ref() is None

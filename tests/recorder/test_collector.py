"""The garbage-collector settings (`recorder.collector`): applied for the block, undone after."""

from __future__ import annotations

import gc
import weakref

from recorder.collector import YOUNG, paused, replay_collector


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
    # by the collector's own young collections, not an explicit gc.collect() (which would
    # collect even with the collector off)
    with replay_collector():
        assert gc.isenabled()
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        # enough allocations for ten young collections, so the next generation is collected
        # too, wherever the pair was when the last one ran
        keep = [[] for _ in range(12 * YOUNG)]
        assert ref() is None
        del keep


def test_overlapping_blocks_share_one_setting() -> None:
    before = gc.get_threshold()
    first, second = replay_collector(), replay_collector()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the other run is still going: still tuned and frozen
    assert gc.get_threshold()[0] == max(before[0], YOUNG) and gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_paused_stops_the_collector_for_the_block_only() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_only_in_memory_derivation_pauses_the_collector(monkeypatch) -> None:
    from recorder import derive as derive_module
    from recorder.derive import SessionStream, derive
    from recorder.testing import make_exchange

    seen: list[bool] = []
    real = derive_module._derive

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())  # as deriving starts
        yield from real(*args, **kwargs)

    monkeypatch.setattr(derive_module, "_derive", spy)
    exchanges = [make_exchange("http://up/v1/chat/completions")]
    derive(exchanges)
    list(SessionStream(lambda: exchanges))
    assert seen == [False, True] and gc.isenabled()

"""The adaptive limit on calls in flight, driven directly (the replays against slot servers
are in test_adaptive_concurrency.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from replayer.clients.adaptive import AdaptiveLimit, combine, describe, endpoint_limit


async def test_places_are_given_in_order_and_a_cancelled_waiter_gives_its_place_back():
    limit = AdaptiveLimit(4)  # starts at one call in flight
    first = await limit.acquire()
    order: list[str] = []

    async def call(name: str) -> None:
        started = await limit.acquire()
        order.append(name)
        limit.release(started, "error")  # says nothing about load: the limit stays

    waiting = [asyncio.create_task(call(n)) for n in "abc"]
    await asyncio.sleep(0.01)
    waiting[1].cancel()
    limit.release(first, "error")
    await asyncio.gather(*waiting, return_exceptions=True)
    assert order == ["a", "c"] and limit.inflight == 0 and limit.limit == 1


async def test_a_throttled_call_halves_the_limit_and_honours_retry_after():
    limit = AdaptiveLimit(8, initial=4)
    started = [await limit.acquire() for _ in range(4)]
    limit.release(started[0], "throttled", retry_after=0.3)
    assert limit.limit == 2 and limit.throttled == 1 and limit.cuts == 1
    limit.release(started[1], "throttled", retry_after=0.3)  # sent before the cut: no second
    assert limit.limit == 2 and limit.cuts == 1
    for s in started[2:]:
        limit.release(s, "ok")
    t0 = time.monotonic()
    await limit.acquire()  # nothing in flight, yet the server asked for 0.3 s
    assert time.monotonic() - t0 >= 0.25


async def test_a_timeout_or_a_call_near_the_timeout_halves_the_limit():
    limit = AdaptiveLimit(8, initial=8, timeout=0.2)
    a, b = await limit.acquire(), await limit.acquire()
    limit.release(a, "timeout")
    assert limit.limit == 4 and limit.timeouts == 1
    await asyncio.sleep(0.15)  # over half the timeout: the next calls would queue into it
    c = await limit.acquire()
    await asyncio.sleep(0.11)
    limit.release(b, "ok")  # started before the cut: already answered for
    limit.release(c, "ok")
    assert limit.limit == 2 and limit.cuts == 2


async def test_endpoints_share_one_limit_per_loop_with_the_smallest_ceiling():
    a = endpoint_limit("http://h/v1/", ceiling=16)
    assert endpoint_limit("http://h/v1", ceiling=8) is a and a.ceiling == 8


def test_each_event_loop_learns_its_endpoints_afresh():
    async def get() -> AdaptiveLimit:
        return endpoint_limit("http://h/v1", ceiling=4)

    assert asyncio.run(get()) is not asyncio.run(get())


def test_shards_side_by_side_add_up_and_read_as_one_line():
    one = {"http://h/v1": {"limit": 1, "peak": 2, "ceiling": 8, "calls": 5, "throttled": 0,
                           "timeouts": 0, "cuts": 0, "waited_s": 1.5}}
    both = combine([one, one])
    assert both["http://h/v1"]["limit"] == 2 and both["http://h/v1"]["calls"] == 10
    (line,) = describe(both)
    assert line.startswith("http://h/v1: settled at 2 call(s) in flight (peak 4, ceiling 16)")


@pytest.mark.parametrize("ceiling", [0, -3])
def test_a_ceiling_below_one_still_lets_one_call_through(ceiling):
    assert AdaptiveLimit(ceiling).limit == 1

"""Adaptive concurrency: how many calls to one endpoint may be in flight, found while they run.

`--concurrency` is a ceiling, not a target. A hosted API takes many calls at once; a llama.cpp
server with one slot serves one and queues the rest, so sixteen calls sent at once wait up to
sixteen service times each and the last ones hit the client's timeout and are sent again. The
limit here starts at one call and is set by what the endpoint shows (AIMD, as TCP does):

    grow       after a window of calls (as many as the limit, at least two) that had more work
               waiting than the limit let through: doubling until the first cut, then by one
    undo       when that window's throughput (calls finished per second) grew by less than
               GAIN of the growth in calls in flight, against the window before the growth:
               more calls in flight only made each call wait longer (the endpoint queues
               them), so the limit goes back to what it was, and holds for HOLD windows
               before probing again (for endpoints whose calls take SLOW_S or more)
    halve      on 429 / 503 / 529 (and no call starts before its Retry-After has passed), on
               a timeout, or on a call that took over LATENCY_GUARD of the client's timeout

Windows in which the limit was not reached (the run had less work than the limit) change
nothing: they say nothing about the endpoint. A limit never changes what is asked, only
when, so a run's results do not depend on it.

One limit per endpoint (base URL) per event loop (one run), shared by every client that
reaches it (the candidate, the tool and user simulators, the LLM judge): on a one-slot server
they all queue for the same slot. `summary()` says what the limit settled on; a replay
reports it per endpoint in its summary and manifest (`concurrency`).

>>> limit = endpoint_limit("http://127.0.0.1:8080/v1", ceiling=16, timeout=120)  # doctest: +SKIP
>>> started = await limit.acquire()                          # doctest: +SKIP
>>> limit.release(started, "ok")                             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Outcome = Literal["ok", "throttled", "timeout", "error"]
"""How a call ended: answered, refused for load (429/503/529), timed out, or failed otherwise
(an error that says nothing about load)."""

GAIN = 0.5
"""The share of the proportional throughput gain a growth must bring to be kept: from 4 to 8
calls in flight, at least 1.5 times the calls finished per second (an endpoint that runs
calls side by side gives 2 times; one that queues them, 1)."""
HOLD = 4
"""Windows a limit holds after it was found, before one more call in flight is tried again."""
SLOW_S = 0.25
"""Only an endpoint whose calls take at least this long (a window's mean) is judged by its
throughput: on a faster one, more calls in flight cost nothing worth guarding against, and
the throughput of short calls says more about this machine's CPU than about the endpoint."""
LATENCY_GUARD = 0.5
"""A call slower than this share of the client's timeout halves the limit: the next calls
would queue behind it and time out."""
THROTTLE_STATUSES = frozenset({429, 503, 529})
"""HTTP statuses that say "too much load": 429 (rate limited), 503 (no free slot), 529."""


class AdaptiveLimit:
    """The in-flight limit of one endpoint (see the module docstring)."""

    def __init__(self, ceiling: int, *, endpoint: str = "", timeout: float | None = None,
                 initial: int = 1) -> None:
        self.endpoint = endpoint
        self.ceiling = max(1, ceiling)
        self.timeout = timeout
        self.limit = max(1, min(initial, self.ceiling))
        self.settled = self.limit
        """The last limit a window confirmed (or a cut set): what `limit` is while a probe
        of one more call is still being judged."""
        self.inflight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._paused_until = 0.0
        self._wake_pending = False
        self._found = False
        """Whether a cut happened: growth is by one from then on."""
        self._hold = 0
        self._previous: tuple[int, float] | None = None
        """(limit, throughput) of the window before the last growth."""
        self._cut_at = 0.0
        """When the limit was last halved: calls started before then do not halve it again."""
        self._window_start: float | None = None
        self._window_done = 0
        self._window_latency = 0.0
        self._window_waited = False
        # what it did, for summary()
        self.peak = self.limit
        self.calls = self.throttled = self.timeouts = self.cuts = 0
        self.waited_s = 0.0

    # -- admission -------------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for a free place (and for any Retry-After to pass); the call's start time, to
        give back to `release`. Places are given in the order they were asked for."""
        asked = time.monotonic()
        if self._waiters or self.inflight >= self.limit or self._paused_until > asked:
            self._window_waited = True
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._wake()  # a pause may have to be waited out with nothing in flight
            try:
                await waiter  # `_wake` counts the place as taken before it wakes us
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # given a place, then cancelled
                    self.inflight -= 1
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._wake()
                raise
        else:
            self.inflight += 1
        now = time.monotonic()
        self.waited_s += now - asked
        if self._window_start is None:
            self._window_start = now
        return now

    def release(self, started: float, outcome: Outcome,
                retry_after: float | None = None) -> None:
        """The call that `acquire` returned `started` for has ended with `outcome`."""
        self.inflight = max(0, self.inflight - 1)
        self.calls += 1
        now = time.monotonic()
        if outcome == "throttled":
            self.throttled += 1
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            self._cut(started)
        elif outcome == "timeout":
            self.timeouts += 1
            self._cut(started)
        elif outcome == "ok":
            if self.timeout and now - started > LATENCY_GUARD * self.timeout:
                self._cut(started)
            else:
                self._window_done += 1
                self._window_latency += now - started
                if self._window_done >= max(2, self.limit):
                    self._end_window(now)
        self._wake()

    def _wake(self) -> None:
        """Give free places to the longest waiting, once any Retry-After has passed."""
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            if not self._wake_pending and self._waiters:
                self._wake_pending = True
                asyncio.get_running_loop().call_later(pause, self._wake_after_pause)
            return
        while self.inflight < self.limit and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.inflight += 1
                waiter.set_result(None)

    def _wake_after_pause(self) -> None:
        self._wake_pending = False
        self._wake()

    # -- the limit -------------------------------------------------------------------------

    def _cut(self, started: float) -> None:
        if started < self._cut_at:  # sent before the last cut: already answered for
            return
        self.limit = self.settled = max(1, self.limit // 2)
        self.cuts += 1
        self._found = True
        self._hold = HOLD
        self._previous = None
        self._cut_at = time.monotonic()
        self._restart_window(self._cut_at)

    def _end_window(self, now: float) -> None:
        start = self._window_start if self._window_start is not None else now
        rate = self._window_done / max(now - start, 1e-6)
        slow = self._window_latency / max(1, self._window_done) >= SLOW_S
        limited = self._window_waited
        self._restart_window(now)
        if not limited:  # less work than the limit: nothing learned about the endpoint
            return
        previous = self._previous
        if slow and previous is not None and self.limit > previous[0] \
                and rate < previous[1] * (1 + GAIN * (self.limit / previous[0] - 1)):
            # more in flight, no more done: the endpoint queues; keep what it was
            self.limit = self.settled = previous[0]
            self._found = True
            self._hold = HOLD
            return
        self.settled = self.limit  # this window's limit did its work
        if self._hold > 0:
            self._hold -= 1
            self._previous = (self.limit, rate)
            return
        if self.limit >= self.ceiling:
            self._previous = (self.limit, rate)
            return
        self._previous = (self.limit, rate)
        self.limit = min(self.ceiling, self.limit + 1 if self._found else self.limit * 2)
        self.peak = max(self.peak, self.limit)

    def _restart_window(self, now: float) -> None:
        self._window_start = now if self.inflight else None
        self._window_done = 0
        self._window_latency = 0.0
        self._window_waited = bool(self._waiters)

    # -- reporting -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """What the limit settled on and why: `limit` (the settled one), `peak`, `ceiling`,
        `calls`, `throttled`, `timeouts`, `cuts`, `waited_s` (time calls spent waiting for a
        place)."""
        return {"limit": self.settled, "peak": self.peak, "ceiling": self.ceiling,
                "calls": self.calls, "throttled": self.throttled, "timeouts": self.timeouts,
                "cuts": self.cuts, "waited_s": round(self.waited_s, 3)}


_ENDPOINTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AdaptiveLimit]] = \
    weakref.WeakKeyDictionary()
"""The limits by event loop, then endpoint: one run (one loop) learns its endpoints afresh
and reports only its own calls; a limit never outlives the loop its waiters belong to."""


def endpoint_limit(base_url: str, *, ceiling: int, timeout: float | None = None
                   ) -> AdaptiveLimit:
    """The limit shared by every client of `base_url` on the running event loop (created on
    first use). Clients that give different ceilings share the smallest: a Ray shard's
    share of `--concurrency` bounds its simulators' calls too."""
    key = base_url.rstrip("/")
    limits = _ENDPOINTS.setdefault(asyncio.get_running_loop(), {})
    limit = limits.get(key)
    if limit is None:
        limit = limits[key] = AdaptiveLimit(ceiling, endpoint=key, timeout=timeout)
    else:
        limit.ceiling = min(limit.ceiling, max(1, ceiling))
        limit.limit = min(limit.limit, limit.ceiling)
        limit.settled = min(limit.settled, limit.ceiling)
        if timeout is not None:
            limit.timeout = min(limit.timeout or timeout, timeout)
    return limit


def summaries() -> dict[str, dict[str, Any]]:
    """`summary()` of every endpoint called on the running event loop."""
    limits = _ENDPOINTS.get(asyncio.get_running_loop(), {})
    return {k: limits[k].summary() for k in sorted(limits) if limits[k].calls}


def combine(parts: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Endpoint summaries of shards that ran side by side (Ray tasks) as one
    per endpoint: their limits, peaks and ceilings add up (together they had that many calls
    in flight), as do their counts."""
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for endpoint, s in part.items():
            into = out.setdefault(endpoint, {})
            for key, value in s.items():
                into[key] = round(into.get(key, 0) + value, 3)
    return out


def describe(endpoints: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per endpoint for a person: `http://h/v1: settled at 2 calls in flight (peak
    4, ceiling 16); 0 throttled, 0 timed out`."""
    return [f"{e}: settled at {s.get('limit')} call(s) in flight (peak {s.get('peak')}, "
            f"ceiling {s.get('ceiling')}); {s.get('throttled', 0)} throttled, "
            f"{s.get('timeouts', 0)} timed out, {s.get('waited_s', 0):.1f}s waited for a place"
            for e, s in sorted(endpoints.items())]

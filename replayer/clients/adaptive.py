"""Adaptive concurrency: how many calls to one endpoint may be in flight, found while they run.

`--concurrency` is a ceiling, not a target. A hosted API takes many calls at once; a llama.cpp
server with one slot serves one and queues the rest, so sixteen calls sent at once wait up to
sixteen service times each and the last ones hit the client's timeout and are sent again. The
limit here starts at one call and is set by what the endpoint shows, as TCP sets its window:

    grow       after each window of calls (as many as the limit, at least two) that had more
               work waiting than the limit let through and whose mean latency stayed within
               the tolerance (below): slow start until the limit was first lowered (1 -> 2,
               then `SLOW_START_FACTOR` times a window), then by the square root of the limit
    back off   when two windows in a row had a mean latency past `TOLERANCE` over the lowest
               window mean seen, and `SLACK_S` at least: calls wait in the endpoint's queue (a
               one-slot server at two calls in flight: one waits a whole service time, 1.5 to
               2 times the mean; one slow window alone may be calls that did more work, and
               neither grows nor lowers the limit). The limit shrinks in proportion, to what
               would bring the latency back within the tolerance (at most halving), and holds
               for `HOLD` windows while the calls sent at the old limit drain
    halve      on 429 / 503 / 529 (and no call starts before its Retry-After has passed), on
               a timeout, or on a call that took over LATENCY_GUARD of the client's timeout

Latency is judged against the lowest window *mean* (not the fastest single call) so calls
that simply do more work (a long answer) do not read as queueing, and with an absolute slack
so the noise of many concurrent calls on a busy machine does not either: 256 calls in flight
to a loopback server with no queue take two to three times their unloaded 0.2 s on two busy
shared cores, and lowering the limit there would only lose throughput. Windows in which the
limit was not reached (the run had less work than the limit) never grow it: they say nothing
about how many calls the endpoint takes. A limit never changes what is asked, only when, so a
run's results do not depend on it.

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
import math
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Outcome = Literal["ok", "throttled", "timeout", "error"]
"""How a call ended: answered, refused for load (429/503/529), timed out, or failed otherwise
(an error that says nothing about load)."""

TOLERANCE = 0.25
"""How much a window's mean latency may grow over the lowest window mean seen before its calls
are taken to be queueing (and at least `SLACK_S`): below the 1.5 times a one-slot server
shows at two calls in flight."""
SLACK_S = 0.5
"""Latency growth, in seconds, that never reads as queueing. 256 loopback calls of 0.2 s to a
server with no queue take 0.3-0.6 s on two busy shared cores: the time goes to the machine's
CPU, and fewer calls in flight would not make them faster, only fewer. Queueing that adds less
than this costs a replay nothing (a server that is the bottleneck runs as fast either way);
what costs is a timeout, which `LATENCY_GUARD` prevents."""
SLOW_START_FACTOR = 4
"""Growth per window before the limit was first lowered, from two calls in flight on (from one
to two it doubles: a one-slot server shows itself at two, one call waiting). TCP doubles per
round trip; four times reaches 256 calls in five windows instead of eight, and each window of
a replay's ramp is a round trip spent mostly waiting (256 calls of 0.2 s: 0.6 s saved, about
6% of a 10,000-turn replay). An endpoint with fewer places is overshot four times at most,
for one window: its calls wait up to four service times, and one that takes over half the
timeout halves the limit at once (`LATENCY_GUARD`)."""
HOLD = 2
"""Windows a lowered limit holds (neither grows nor backs off again) while calls sent at the
old limit drain; their latency says nothing about the new one."""
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
        self._slow_start = True
        """Whether the limit has never been lowered: growth is slow start's until then."""
        self._hold = 0
        self._suspect = False
        """Whether the last window was slow: a second one in a row lowers the limit."""
        self.baseline: float | None = None
        """The lowest mean latency of a window: the endpoint's latency without queueing."""
        self._cut_at = 0.0
        """When the limit was last lowered: calls started before then do not halve it again."""
        self._window_done = 0
        self._window_latency = 0.0
        self._window_full = False
        """Whether the window's calls ever filled the limit (or waited for a place)."""
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
            self._window_full = True
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
            if self.inflight >= self.limit:
                self._window_full = True
        now = time.monotonic()
        self.waited_s += now - asked
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
                    self._end_window()
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
        self._lower(max(1, self.limit // 2))

    def _lower(self, limit: int) -> None:
        self.limit = self.settled = limit
        self.cuts += 1
        self._slow_start = False
        self._hold = HOLD
        self._suspect = False
        self._cut_at = time.monotonic()
        self._restart_window()

    def _end_window(self) -> None:
        latency = self._window_latency / max(1, self._window_done)
        full = self._window_full
        self._restart_window()
        self.baseline = latency if self.baseline is None else min(self.baseline, latency)
        if self._hold > 0:  # calls sent at the old limit are still finishing
            self._hold -= 1
            return
        within = self.baseline + max(TOLERANCE * self.baseline, SLACK_S)
        if latency > within:
            if self._suspect:
                # calls wait in the endpoint's queue: shrink to what would bring the latency
                # back within the tolerance (latency grows with calls in flight when they queue)
                self._lower(max(1, self.limit // 2,
                                min(self.limit - 1, math.floor(self.limit * within / latency))))
            else:  # one slow window may be calls that did more work: look at one more
                self._suspect = True
            return
        self._suspect = False
        if not full:  # less work than the limit: nothing learned about more calls
            return
        self.settled = self.limit  # this window's limit did its work without queueing
        if self.limit < self.ceiling:
            if self._slow_start:
                grown = self.limit * (2 if self.limit < 2 else SLOW_START_FACTOR)
            else:
                grown = self.limit + max(1, math.isqrt(self.limit))
            self.limit = min(self.ceiling, grown)
            self.peak = max(self.peak, self.limit)

    def _restart_window(self) -> None:
        self._window_done = 0
        self._window_latency = 0.0
        self._window_full = bool(self._waiters) or self.inflight >= self.limit

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

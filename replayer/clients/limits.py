"""Retry timing and client-side rate limits (requests/min, tokens/min).

Backoff jitter is derived by hashing the request and attempt number rather than drawn from a
global random state, so retries never make a run depend on anything but its inputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter on retryable failures, honouring Retry-After.

    The n-th retry waits a uniform fraction of `min(cap, base * 2**n)`, or exactly what the
    server asked for in `Retry-After` (capped at `max_retry_after`).
    """

    max_attempts: int = 6
    """Attempts in total (1 = no retries)."""
    base: float = 0.5
    """Seconds of the first backoff window."""
    cap: float = 30.0
    """Largest backoff window."""
    max_retry_after: float = 120.0
    """Longest Retry-After honoured; longer requests are cut to this."""

    def delay(self, attempt: int, key: str, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based) of the request `key`."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        window = min(self.cap, self.base * 2**attempt)
        digest = hashlib.sha256(f"{key}|{attempt}".encode()).digest()
        return window * int.from_bytes(digest[:8], "big") / 2**64


def parse_retry_after(headers: dict[str, str] | object) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if present."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    ms = get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class _Bucket:
    """A token bucket refilled continuously at `per_minute / 60` per second."""

    def __init__(self, per_minute: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 when it is, in which case it is taken)."""
        self._refill()
        amount = min(amount, self.capacity)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.rate

    def debit(self, amount: float) -> None:
        """Take tokens after the fact (the real usage exceeded the estimate); may go negative."""
        self._refill()
        self.level -= amount


class RateLimiter:
    """Client-side limits on requests per minute and tokens per minute, shared by all tasks.

    >>> limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=200_000)
    >>> await limiter.acquire(tokens=1200)        # doctest: +SKIP
    """

    def __init__(self, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None) -> None:
        self.requests = _Bucket(requests_per_minute) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request of about `tokens` tokens fits both budgets, then take it."""
        async with self._lock:  # first come, first served
            for bucket, amount in ((self.requests, 1.0), (self.tokens, float(tokens))):
                if bucket is None or amount <= 0:
                    continue
                while (wait := bucket.wait_for(amount)) > 0:
                    self.waited_s += wait
                    await asyncio.sleep(wait)

    def settle(self, estimated: int, actual: int) -> None:
        """Charge the difference between the real token count and the estimate taken."""
        if self.tokens is not None and actual > estimated:
            self.tokens.debit(actual - estimated)

"""The response cache as the replay loop uses it: off the event loop, tuned for its write rate.

`runtime.response_cache.ResponseCache` (SQLite) is the shared format and key. A replay writes
an answer per model call — over a thousand a second — so here:

- the database runs in WAL mode without an fsync per answer (a crash may lose the last
  answers, never corrupt the file; the trajectories, not the cache, are the durable record);
- the keys present are listed once when the cache opens, so a miss (every call of a first run)
  costs a set lookup, answers this run wrote are served from memory, and only hits on older
  answers go to the database;
- reads and batched writes run on one worker thread, so the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from recorder.session import Message
from runtime.response_cache import ResponseCache

FLUSH_S = 0.05
"""How long a write may wait to be batched with others."""

RECENT = 10_000
"""Answers written by this run kept in memory (identical requests within a run hit here)."""


class RunCache(ResponseCache):
    """A ResponseCache that does not fsync every answer (see the module docstring)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, durable=False)


class AsyncCache:
    """Awaitable get, batched put over a RunCache, on a dedicated thread.

    >>> cache = AsyncCache(RunCache("run/cache/responses.sqlite"))   # doctest: +SKIP
    >>> await cache.get(key)                                          # doctest: +SKIP
    """

    def __init__(self, cache: RunCache) -> None:
        self.cache = cache
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deploysim-cache")
        self._known = self._pool.submit(cache.keys)
        self._pending: dict[str, Message] = {}
        self._recent: OrderedDict[str, Message] = OrderedDict()
        self._flush: asyncio.TimerHandle | None = None
        self.hits = 0

    async def get(self, key: str) -> Message | None:
        known = (self._known.result() if self._known.done()
                 else await asyncio.wrap_future(self._known))
        found_here = self._pending.get(key) or self._recent.get(key)
        if found_here is not None:  # written by this run: no trip to the database
            self.hits += 1
            return found_here
        if key not in known:
            return None
        found = await asyncio.get_running_loop().run_in_executor(self._pool, self.cache.get, key)
        self.hits += found is not None
        return found

    def put(self, key: str, message: Message) -> None:
        """Queue a write; writes are applied in batches, in order, and `close` waits for them."""
        self._pending[key] = message
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_S, self._write)

    def _write(self) -> None:
        self._flush = None
        if self._pending:
            batch, self._pending = list(self._pending.items()), {}
            self._recent.update(batch)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
            known = self._known.result()
            known.update(k for k, _ in batch)
            self._pool.submit(self.cache.put_many, batch)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self._write()
        self._pool.shutdown(wait=True)
        self.cache.close()

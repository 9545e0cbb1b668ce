"""Memos of pure functions of recorded objects, owned by the run that asks for them.

In prefix mode every trajectory of a session re-sends the same recorded message objects, step
after step (turn t+1 shares turn t's prefix). Serialising a message once per run and reusing
the result — for the request body, the request key and the written record — is worth it end
to end: without it a whole `deploysim replay` command spent 21% more CPU a turn (1.138 against
0.940 ms; `bench/replay_endpoint.py --latency 0.05 --concurrency 64 --turns 2000`, medians of
5 alternating runs, 6 Dec 2026; docs/performance.md, "Removed fast paths").

A `Memos` belongs to an object that lives as long as one run: the model client (request
bodies), the loop's `Candidate` (request keys), the `TrajectoryWriter` (records). Its entries
go with it, so nothing is process-wide and nothing needs clearing. Functions that take a
`memos` default to `NO_MEMO`, which computes every value afresh: the readable reference,
which the tests hold the memoised results equal to.

>>> memos = Memos()
>>> dumps = memos.of(dump_message)                           # doctest: +SKIP
>>> dumps(message) is dumps(message)                         # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any, cast

_MISSING: Any = object()


class IdentityMemo[T, R]:
    """`memo(obj)` = `fn(obj)`, computed once per live object while the memo lives.

    Entries are keyed by object identity and hold the object, so an id is never reused while
    its entry lives; past `size` the oldest entries are dropped (a replay walks the corpus
    session by session, so the oldest are the ones it is done with).
    """

    def __init__(self, fn: Callable[[T], R], size: int = 50_000) -> None:
        self.fn = fn
        self.size = size
        # id -> object and id -> value. An entry holds its object alive, so no other object
        # can have that id while the entry exists: a hit by id needs no identity check, which
        # lets `many` look a whole conversation up in C (map over dict.get)
        self._entries: dict[int, T] = {}
        self._values: dict[int, R] = {}

    def __call__(self, obj: T) -> R:
        # a hit is the common case: keep it to one dict lookup (no recency bookkeeping)
        value = self._values.get(id(obj), _MISSING)
        if value is _MISSING:
            return self._compute(obj)
        return cast(R, value)

    def many(self, objs: Iterable[T]) -> list[R]:
        """`[memo(o) for o in objs]`, the lookups done in C (a replay asks for every message
        of the prefix at every step, and nearly all are hits)."""
        objs = objs if isinstance(objs, list | tuple) else list(objs)
        values: list[Any] = list(map(self._values.get, map(id, objs),
                                     repeat(_MISSING, len(objs))))
        if _MISSING in values:
            values = [self._compute(o) if v is _MISSING else v for o, v in zip(objs, values,
                                                                                  strict=True)]
        return values

    def _compute(self, obj: T) -> R:
        value = self.fn(obj)
        key = id(obj)
        entries = self._entries
        entries[key] = obj
        self._values[key] = value
        if len(entries) > self.size:  # drop the oldest tenth at once (dicts keep insertion order)
            for old in list(entries)[: max(1, self.size // 10)]:
                del entries[old]
                del self._values[old]
        return value


class _Computed[T, R](IdentityMemo[T, R]):
    """Keeps nothing: every value computed afresh (`NO_MEMO`)."""

    def __call__(self, obj: T) -> R:
        return self.fn(obj)

    def many(self, objs: Iterable[T]) -> list[R]:
        return list(map(self.fn, objs))


class Memos:
    """One `IdentityMemo` per function, made at its first use; owned by one run's object.
    Never mutate a value it returns: the next caller gets the same object."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._memos: dict[Callable[[Any], Any], IdentityMemo[Any, Any]] = {}

    def of[T, R](self, fn: Callable[[T], R]) -> IdentityMemo[T, R]:
        """The memo of `fn` (a module-level function: the same object at every call)."""
        memo = self._memos.get(fn)
        if memo is None:
            memo = self._memos[fn] = IdentityMemo(fn, self.size)
        return memo


class _NoMemos(Memos):
    def of[T, R](self, fn: Callable[[T], R]) -> IdentityMemo[T, R]:
        return _Computed(fn)


NO_MEMO: Memos = _NoMemos()
"""Computes every value afresh and keeps nothing (the default of every function that takes
`memos`): the reference the memoised results must equal."""

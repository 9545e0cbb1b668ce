"""Per-object memo for the replay hot path.

In prefix mode every trajectory of a session re-sends the same recorded message objects, step
after step (turn t+1 shares turn t's prefix). Serialising a message once and reusing the
result — for the request key, the request body and the written record — removes most of the
per-turn CPU. Entries are keyed by object identity and hold the object, so an id is never
reused while its entry lives; past `size` the oldest entries are dropped (a replay walks the
corpus session by session, so the oldest are the ones it is done with).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any, cast

from pydantic import BaseModel

_MEMOS: list[IdentityMemo[Any, Any]] = []
_MISSING: Any = object()


def clear_all() -> None:
    """Forget every memoised value. A replay calls it when it finishes: its entries hold the
    run's messages alive, and a process that runs several replays (tests, notebooks) would
    otherwise carry them — and the garbage collector's work over them — into the next."""
    for memo in _MEMOS:
        memo.clear()


class IdentityMemo[T, R]:
    """`memo(obj)` = `fn(obj)`, computed once per live object.

    >>> dumps = IdentityMemo(lambda m: m.model_dump())
    >>> dumps(message) is dumps(message)                     # doctest: +SKIP
    True
    """

    def __init__(self, fn: Callable[[T], R], size: int = 50_000) -> None:
        self.fn = fn
        self.size = size
        # id -> object and id -> value. An entry holds its object alive, so no other object
        # can have that id while the entry exists: a hit by id needs no identity check, which
        # lets `many` look a whole conversation up in C (map over dict.get)
        self._entries: dict[int, T] = {}
        self._values: dict[int, R] = {}
        _MEMOS.append(self)

    def clear(self) -> None:
        self._entries.clear()
        self._values.clear()

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


plain: IdentityMemo[BaseModel, dict[str, Any]] = IdentityMemo(lambda m: m.model_dump())
"""`model.model_dump()` (python mode) per model object, shared by the request key and the
trajectory record so a recorded message is dumped once. Never mutate what it returns."""

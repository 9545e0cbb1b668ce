"""Per-object memo for the replay hot path.

In prefix mode every trajectory of a session re-sends the same recorded message objects, step
after step (turn t+1 shares turn t's prefix). Serialising a message once and reusing the
result — for the request key, the request body and the written record — removes most of the
per-turn CPU. Entries are keyed by object identity and hold the object, so an id is never
reused while its entry lives; past `size` the oldest entries are dropped (a replay walks the
corpus session by session, so the oldest are the ones it is done with).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

_MEMOS: list[IdentityMemo[Any, Any]] = []


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
        self._entries: dict[int, tuple[T, R]] = {}
        _MEMOS.append(self)

    def clear(self) -> None:
        self._entries.clear()

    def __call__(self, obj: T) -> R:
        # a hit is the common case and runs tens of times per model call: keep it to one
        # dict lookup (no recency bookkeeping)
        hit = self._entries.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = self.fn(obj)
        entries = self._entries
        entries[id(obj)] = (obj, value)
        if len(entries) > self.size:  # drop the oldest tenth at once (dicts keep insertion order)
            for key in list(entries)[: max(1, self.size // 10)]:
                del entries[key]
        return value


plain: IdentityMemo[BaseModel, dict[str, Any]] = IdentityMemo(lambda m: m.model_dump())
"""`model.model_dump()` (python mode) per model object, shared by the request key and the
trajectory record so a recorded message is dumped once. Never mutate what it returns."""

"""Per-object memo for the replay hot path.

In prefix mode every trajectory of a session re-sends the same recorded message objects, step
after step (turn t+1 shares turn t's prefix). Serialising a message once and reusing the
result — for the request key, the request body and the written record — removes most of the
per-turn CPU. Entries are keyed by object identity and hold the object, so an id is never
reused while its entry lives; the least recently used are dropped past `size`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class IdentityMemo[T, R]:
    """`memo(obj)` = `fn(obj)`, computed once per live object.

    >>> dumps = IdentityMemo(lambda m: m.model_dump())
    >>> dumps(message) is dumps(message)                     # doctest: +SKIP
    True
    """

    def __init__(self, fn: Callable[[T], R], size: int = 50_000) -> None:
        self.fn = fn
        self.size = size
        self._entries: OrderedDict[int, tuple[T, R]] = OrderedDict()

    def __call__(self, obj: T) -> R:
        key = id(obj)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is obj:
            self._entries.move_to_end(key)
            return hit[1]
        value = self.fn(obj)
        self._entries[key] = (obj, value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

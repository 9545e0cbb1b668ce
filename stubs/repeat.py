"""Repeat policies: which recorded response answers the n-th identical call in a trajectory.

`sequence` (the default) plays the recordings in recorded order, then keeps repeating the last
one, so a polling loop sees the state change it saw in production and then a stable end state.
`cycle` wraps around; `first` always answers with the first recording.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

RepeatPolicy = Callable[[Sequence[int], int], int]
"""(recorded rows in order, how many times this call was made before) -> the row to answer."""

POLICIES: dict[str, RepeatPolicy] = {}

ONE_ROW = frozenset({"sequence", "cycle", "first"})
"""Built-in policies, which answer every repeat of a call recorded once with that one
recording: the engine keeps no repeat position for such calls under them (a registered
policy is always asked)."""


def policy(name: str) -> Callable[[RepeatPolicy], RepeatPolicy]:
    def register(fn: RepeatPolicy) -> RepeatPolicy:
        POLICIES[name] = fn
        return fn

    return register


@policy("sequence")
def sequence(rows: Sequence[int], n: int) -> int:
    return rows[n] if n < len(rows) else rows[-1]


@policy("cycle")
def cycle(rows: Sequence[int], n: int) -> int:
    return rows[n % len(rows)]


@policy("first")
def first(rows: Sequence[int], n: int) -> int:
    return rows[0]

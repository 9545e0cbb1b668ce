"""What each trajectory has been told by its tools so far: the context the tool simulator keeps.

The Deployment Simulation method simulates tools with a model that keeps state: a file the
agent wrote is there when it reads it back, an order it created has the id it was given, the
clock has moved on. The stub engine records every answer it gives (only when the `simulate`
layer is on: nothing is kept otherwise, and the exact path stays as fast), and the simulator's
prompt shows the trajectory's earlier calls with their outputs, oldest first.

Bounded: the last `per_trajectory` calls of the last `trajectories` trajectories, each output
cut to `output_chars`; `forget(trajectory)` drops a finished one.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from stubs.api import StubAnswer, ToolQuery


@dataclass(frozen=True)
class HistoryItem:
    """One answered call, as the agent saw it."""

    kind: str
    server: str | None
    name: str
    call_index: int
    arguments: Any
    output: str
    is_error: bool


def trajectory_of(query: ToolQuery) -> str:
    """The trajectory a call belongs to, as the engine keys its repeat positions."""
    return query.trajectory_id or query.session_id or ""


class ToolHistory:
    """Answered calls per trajectory, in the order they were answered."""

    def __init__(self, *, per_trajectory: int = 16, trajectories: int = 4096,
                 output_chars: int = 1200) -> None:
        self.per_trajectory = per_trajectory
        self.trajectories = trajectories
        self.output_chars = output_chars
        self._items: OrderedDict[str, deque[HistoryItem]] = OrderedDict()

    def add(self, query: ToolQuery, answer: StubAnswer) -> None:
        key = trajectory_of(query)
        items = self._items.get(key)
        if items is None:
            if len(self._items) >= self.trajectories:  # the least recently used one goes
                self._items.popitem(last=False)
            items = self._items[key] = deque(maxlen=self.per_trajectory)
        else:
            self._items.move_to_end(key)
        text = answer.result.content
        if len(text) > self.output_chars:
            text = text[: self.output_chars] + "…"
        items.append(HistoryItem(query.kind, query.server, query.name, query.call_index,
                                 query.arguments, text, answer.result.is_error))

    def before(self, query: ToolQuery) -> list[HistoryItem]:
        """The calls the trajectory made before this one, oldest first. A call of the same
        server at a later position (a parallel call answered first) is not earlier, so it is
        left out: an agent that waits for each answer gets the same history every run."""
        items = self._items.get(trajectory_of(query))
        if not items:
            return []
        return [i for i in items if not (i.kind == query.kind and i.server == query.server
                                         and i.call_index > query.call_index)]

    def forget(self, trajectory: str) -> None:
        self._items.pop(trajectory, None)

"""The one way the replayer creates tasks: named, referenced, and failing loudly.

A `TaskGroup` keeps a reference to every task it spawns (so none is garbage-collected while
running), names them (so a hang shows which), and when one fails cancels the rest and re-raises
the first error — a crash never leaves workers running behind a half-written run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class TaskGroup:
    """`async with TaskGroup("name") as g: g.spawn(coro, "worker-1")`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._group = asyncio.TaskGroup()
        self.tasks: list[asyncio.Task[Any]] = []

    async def __aenter__(self) -> TaskGroup:
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._group.__aexit__(*exc)
        except BaseExceptionGroup as group:  # surface the first real error, not the group
            first = group.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from group

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = self._group.create_task(coro, name=f"{self.name}:{name}")
        self.tasks.append(task)
        return task

"""The one way deploysim starts tasks: named, referenced, and never silently lost.

Two shapes. `spawn` starts a background task that outlives its caller (the proxy's writer,
drains): asyncio keeps only a weak reference to a task, so a fire-and-forget task can be garbage
collected mid-flight; and an exception in an unawaited task is only reported when the task is
collected. `spawn` keeps a strong reference until the task ends and logs its failure at once.

>>> task = spawn(drain(queue), name="drain-queue")   # doctest: +SKIP

`TaskGroup` runs a group of workers that end together (the replayer's shards): it keeps a
reference to every task it spawns, names them (so a hang shows which), and when one fails
cancels the rest and re-raises the first error, so a crash never leaves workers running behind
a half-written run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("deploysim.tasks")

_live: set[asyncio.Task[Any]] = set()


def spawn[T](coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Start `coro` as a task called `name`, keeping a reference until it finishes."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _live.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _live.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s failed: %r", task.get_name(), exc, exc_info=exc)


def live_tasks() -> set[asyncio.Task[Any]]:
    """The tasks started by `spawn` that have not finished (for shutdown and tests)."""
    return set(_live)


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

"""The one way the proxy starts background tasks: named, referenced, and never silently lost.

asyncio keeps only a weak reference to a task, so a fire-and-forget task can be garbage
collected mid-flight; and an exception in an unawaited task is only reported when the task is
collected. `spawn` keeps a strong reference until the task ends and logs its failure at once.

>>> task = spawn(drain(queue), name="drain-queue")   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("deploysim.proxy")

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

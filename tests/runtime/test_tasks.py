"""runtime.tasks: a background task is referenced until it ends and its failure is logged at
once; a task group surfaces its first real error and cancels the rest."""

from __future__ import annotations

import asyncio
import logging

import pytest

from runtime.tasks import TaskGroup, live_tasks, spawn


async def test_a_background_task_is_kept_alive_and_its_failure_logged_at_once(caplog):
    release = asyncio.Event()

    async def waits() -> None:
        await release.wait()

    async def fails() -> None:
        raise RuntimeError("disk full")

    with caplog.at_level(logging.ERROR, logger="deploysim.tasks"):
        waiting = spawn(waits(), name="waiter")
        failing = spawn(fails(), name="writer")
        await asyncio.sleep(0)
        assert waiting in live_tasks() and waiting.get_name() == "waiter"
        await asyncio.sleep(0)
        assert failing.done() and failing not in live_tasks()
        assert any("writer" in r.getMessage() and "disk full" in r.getMessage()
                   for r in caplog.records)
        release.set()
        await waiting
    assert waiting not in live_tasks()


async def test_a_task_group_raises_its_first_error_and_cancels_the_rest():
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def broken() -> None:
        await asyncio.sleep(0)
        raise ValueError("bad shard")

    with pytest.raises(ValueError, match="bad shard"):
        async with TaskGroup("replay") as group:
            worker = group.spawn(slow(), "work-0")
            group.spawn(broken(), "work-1")
    assert cancelled.is_set() and worker.cancelled()
    assert [t.get_name() for t in group.tasks] == ["replay:work-0", "replay:work-1"]

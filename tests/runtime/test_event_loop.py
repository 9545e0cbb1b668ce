"""runtime.event_loop: deploysim runs on uvloop when installed, on asyncio's loop on request."""

from __future__ import annotations

import asyncio

import pytest

from runtime import event_loop as aio


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv(aio.ENV, raising=False)
    assert aio.loop_name() == "uvloop"
    assert aio.run(_loop_module()).startswith("uvloop")


def test_env_forces_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aio.ENV, "asyncio")
    assert aio.loop_name() == "asyncio"
    assert aio.run(_loop_module()).startswith("asyncio")


def test_run_returns_the_result_and_propagates_errors() -> None:
    async def boom() -> None:
        raise ValueError("x")

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert aio.run(answer()) == 42
    with pytest.raises(ValueError):
        aio.run(boom())

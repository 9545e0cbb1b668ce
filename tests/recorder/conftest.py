"""Shared fixtures for recorder tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from recorder_helpers import FakeUpstream


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    yield server
    await server.close()

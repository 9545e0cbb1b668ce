"""Fixtures for the proxy tests: every one runs with an isolated deploysim config dir."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_config(deploysim_config: str) -> str:
    """Keep the redaction key and the mitmproxy CA out of the real ~/.config."""
    return deploysim_config

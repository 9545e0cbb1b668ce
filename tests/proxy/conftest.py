"""Fixtures for the proxy tests: an isolated deploysim config dir (redaction key, CA)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _deploysim_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Keep the redaction key and the mitmproxy CA out of the real ~/.config."""
    path = str(tmp_path_factory.mktemp("deploysim-config"))
    saved = {k: os.environ.get(k) for k in ("DEPLOYSIM_CONFIG_DIR", "DEPLOYSIM_REDACTION_KEY")}
    os.environ["DEPLOYSIM_CONFIG_DIR"] = path
    os.environ["DEPLOYSIM_REDACTION_KEY"] = "proxy-tests-redaction-key-0123456789"
    yield path
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v

"""The viewer tests' shared world (built once: it runs two real gates)."""

from __future__ import annotations

import pytest
from viewer_world import build


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return build(tmp_path_factory.mktemp("viewer"))

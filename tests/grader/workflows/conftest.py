"""A corpus with a baseline and a candidate run on disk, shared by the workflow tests."""

from __future__ import annotations

import pytest

from grader.testing import write_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """corpus, baseline and candidate paths; the candidate flags far more often."""
    return write_world(tmp_path_factory.mktemp("workflows"), sessions=30, turns=2, base_p=0.05,
                       cand_p=0.35)

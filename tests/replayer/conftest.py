"""Fixtures for the replayer tests (factories live in replay_helpers)."""

from __future__ import annotations

import pytest
from replay_helpers import write_test_corpus


@pytest.fixture
def corpus_path(tmp_path) -> str:
    return write_test_corpus(tmp_path)

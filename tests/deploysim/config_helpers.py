"""A served pair of models and a small recorded corpus for the `deploysim run` and config
tests: the demo's scripted models (sim-deployed, sim-candidate) on loopback, and the replayer
tests' known corpus (22 turns in three sessions)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from replay_helpers import write_test_corpus

from deploysim.cli import run
from deploysim.demo.policies import world_policy
from replayer.testing.fake_model_runner import serve_in_thread

__all__ = ["models", "write_config", "write_test_corpus"]


@contextlib.contextmanager
def models() -> Iterator[str]:
    """The demo's scripted models, served in a thread; yields the OpenAI base URL."""
    with serve_in_thread(world_policy(), log_requests=False) as server:
        yield server.openai_url


def write_config(folder: Path, corpus: str, url: str, *extra: str) -> Path:
    """`deploysim init` in `folder` for `corpus` and the served models; returns the file."""
    path = folder / "deploysim.toml"
    code = run(["init", str(path), "--corpus", os.path.relpath(corpus, folder),
                "--baseline-model", "sim-deployed", "--candidate-model", "sim-candidate",
                "--base-url", url, "--profile", "hostile", "--seed", "3", "--miss", "continue",
                "--audit", "out/audit.sqlite", "--out", "out", *extra])
    assert code == 0
    return path

"""What the replay benchmarks (`bench/replay_endpoint.py`, `bench/replay_throughput.py`) set up
alike: the fake model with a fixed latency in its own process, the recorded corpora they replay,
the `deploysim replay` command as a user runs it, and the CPU time of the processes they
start."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from replayer.testing.synthetic_sessions import support_corpus, write_corpus

ROOT = Path(__file__).resolve().parent.parent
TURNS_PER_SESSION = 10


def start_fake_model(latency: float, root: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """The fake OpenAI model (`python -m replayer.testing.fake_model --policy constant`) from
    the source tree at `root`, answering each request after `latency` seconds; returns the
    process and its OpenAI URL."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "replayer.testing.fake_model", "--policy",
                             "constant", "--latency", str(latency)], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=root)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info["openai_url"]


def write_corpora(folder: str, turns: int) -> tuple[str, str]:
    """Under `folder`, a recorded support corpus of about `turns` turns (sessions of
    TURNS_PER_SESSION) and a small one for the warm-up run; returns both paths."""
    sessions = max(1, turns // TURNS_PER_SESSION)
    corpus = write_corpus(os.path.join(folder, "corpus", "rec.cassette"),
                          support_corpus([TURNS_PER_SESSION] * sessions))
    warm = write_corpus(os.path.join(folder, "warm", "rec.cassette"),
                        support_corpus([TURNS_PER_SESSION] * 4))
    return corpus, warm


def run_replay(url: str, corpus: str, out: str, concurrency: int, extra: Sequence[str] = ()
               ) -> tuple[dict[str, Any], float]:
    """`deploysim replay` of `corpus` against the fake model at `url`, run as a user runs it
    (a subprocess: interpreter start-up, imports and all) with `extra` options; returns its
    JSON summary and its wall seconds. Exits, saying why, when the command fails; a turn that
    errs fails the benchmark (it would measure something else)."""
    cli = os.path.join(os.path.dirname(sys.executable), "deploysim")
    t0 = time.monotonic()
    proc = subprocess.run([cli, "replay", corpus, "--model", "sim-candidate", "--base-url", url,
                           "--out", out, "--concurrency", str(concurrency), "--progress", "off",
                           "--json", *extra], capture_output=True, text=True,
                          env={**os.environ, "OPENAI_API_KEY": "sim"})
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"deploysim replay failed ({proc.returncode}): {proc.stderr.strip()}")
    summary: dict[str, Any] = json.loads(proc.stdout)
    assert summary["counts"]["errors"] == 0, summary["errors_by_reason"]
    return summary, wall


def children_cpu() -> float:
    """User + system CPU seconds of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

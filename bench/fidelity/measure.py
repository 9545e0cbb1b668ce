"""Measuring: replays and grading through the real commands, per-unit verdicts, and rates as
a real grader (which errs) and as the world's truth (which does not) would read them.

The grader error is applied to the default rubric's verdicts, unit by unit, by a seeded hash:
a clean unit is flagged with probability `GRADER_FALSE_POSITIVE`, a flagged one missed with
`GRADER_FALSE_NEGATIVE`. The truth is read without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fidelity.params import BEHAVIORS, GRADER_FALSE_NEGATIVE, GRADER_FALSE_POSITIVE
from bench.fidelity.server import ROOT
from bench.fidelity.windows import deploysim, env
from grader.verdict_store import read_verdicts


def replay(corpus: Path, model: str, base_url: str, out: Path, seed: int, *,
           rollout: bool = False) -> dict[str, object]:
    """`deploysim replay` of `corpus` through `model` (prefix mode, or rollout with the
    world's simulated user); returns its JSON summary."""
    cmd = [*deploysim(), "replay", str(corpus), "--model", model, "--base-url", base_url,
           "--api", "openai-chat", "--profile", "none", "--seed", str(seed),
           "--concurrency", "48", "--no-cache", "--miss", "continue", "--progress", "off",
           "--json", "--out", str(out)]
    cmd += ["--mode", "rollout", "--user-simulator", "sim-user"] if rollout else \
        ["--mode", "prefix"]
    done = subprocess.run(cmd, capture_output=True, env=env(), cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"`deploysim replay` of {corpus} with {model} failed "
                           f"(exit {done.returncode}): {done.stderr.decode()[-600:]}")
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


@dataclass(frozen=True)
class Unit:
    """One graded unit (a turn) of one behaviour."""

    session: str
    turn: int | None
    pair_key: str
    segment: str | None
    flagged: bool


def grade(target: Path) -> dict[str, list[Unit]]:
    """`deploysim grade --rubric default` on a corpus or run; the verdicts per behaviour."""
    done = subprocess.run([*deploysim(), "grade", str(target), "--rubric", "default", "--json"],
                          capture_output=True, env=env(), cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"`deploysim grade` of {target} failed (exit {done.returncode}): "
                           f"{done.stderr.decode()[-600:]}")
    out: dict[str, list[Unit]] = {b: [] for b in BEHAVIORS}
    for v in read_verdicts(str(target), json.loads(done.stdout)["rubric"]):
        if v.behavior in out and v.flagged is not None:
            out[v.behavior].append(Unit(v.session_id, v.turn, v.pair_key, v.segment,
                                        v.flagged))
    return out


def _u(*parts: object) -> float:
    h = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:7], "big") / float(1 << 56)


def as_graded(units: Sequence[Unit], behavior: str, seed: int, err: bool) -> list[bool]:
    """The verdicts as the world's grader reports them (with its errors when `err`)."""
    if not err:
        return [u.flagged for u in units]
    out = []
    for u in units:
        d = _u(seed, "grader", behavior, u.session, u.turn)
        out.append(d >= GRADER_FALSE_NEGATIVE if u.flagged else d < GRADER_FALSE_POSITIVE)
    return out


@dataclass(frozen=True)
class Rate:
    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else 0.0

    def wilson(self, z: float = 1.96) -> tuple[float, float]:
        if not self.n:
            return (0.0, 1.0)
        p, n = self.rate, self.n
        mid = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return (max(0.0, mid - half), min(1.0, mid + half))


def rate(flags: Sequence[bool]) -> Rate:
    return Rate(sum(flags), len(flags))

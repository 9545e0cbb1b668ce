"""The estimates the world scores: today's uncorrected one, the naive one, rollout with the
simulated user, and `deploysim predict` once it exists.

- **naive** ("nothing changes"): the deployed release's observed production rate.
- **uncorrected** (today's method): the candidate's rate on replayed production prefixes, with
  the Wilson interval `deploysim grade`/`gate` print.
- **rollout**: the candidate's rate in rollout replays driven by the simulated user.
- **predict**: `deploysim predict --baseline RUN --candidate RUN --observed CORPUS --json`, per
  behaviour `predicted_rate` and `interval`; used as soon as `deploysim predict --help` works.
"""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fidelity.server import ROOT
from bench.fidelity.windows import deploysim, env


@dataclass(frozen=True)
class Estimate:
    rate: float
    interval: tuple[float, float] | None
    reference: float | None
    """What the estimator compares against for the direction of change (None: no direction)."""
    call: str | None = None
    """The direction the estimator itself reports (predict's `direction`: up, down or no
    detectable change), or None when it reports none."""


@functools.cache
def predict_available() -> bool:
    """Whether this tree has `deploysim predict` (built at the same time as this world)."""
    try:
        done = subprocess.run([*deploysim(), "predict", "--help"], capture_output=True,
                              env=env(), cwd=ROOT, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def predict(baseline: Path, candidate: Path, observed: Path,
            extra: tuple[str, ...] = (), save: Path | None = None) -> dict[str, Estimate]:
    """`deploysim predict`'s estimate per behaviour (its JSON: `behaviors` keyed by id, each
    with `predicted_rate` and `interval`); `save` keeps the JSON."""
    cmd = [*deploysim(), "predict", "--baseline", str(baseline), "--candidate", str(candidate),
           "--observed", str(observed), "--json", *extra]
    done = subprocess.run(cmd, capture_output=True, env=env(), cwd=ROOT)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"`deploysim predict` failed (exit {done.returncode}): "
                           f"{done.stderr.decode()[-600:]}")
    if save is not None:
        save.write_bytes(done.stdout)
    return parse(json.loads(done.stdout))


def parse(raw: dict[str, Any]) -> dict[str, Estimate]:
    """The estimates in `deploysim predict --json`'s output."""
    behaviors = raw.get("behaviors", raw)
    out = {}
    for b, v in behaviors.items():
        if isinstance(v, dict) and "predicted_rate" in v:
            iv = v.get("interval")
            # the direction compares the prediction with the deployed model's production rate
            # as the truth's direction does: production as it was recorded (not reweighted to
            # the deployment mix, whose shift is part of the change), on the prediction's
            # scale (after the grader-error correction when predict applied one: the raw rate
            # carries the false alarms the prediction has had removed); older predicts, which
            # report no `production_rate`, are read against their corrected observed rate
            fixed = v.get("corrected_rates") or {}
            reference = v.get("production_rate")
            if reference is None:
                reference = fixed.get("observed", v.get("observed_baseline_rate",
                                                        v.get("observed_rate")))
            out[b] = Estimate(float(v["predicted_rate"]),
                              (float(iv[0]), float(iv[1])) if iv else None, reference,
                              v.get("direction"))
    return out

"""Operators about time: latency (a delay drawn from a distribution) and timeout.

Delays are *values on the answer* (`StubAnswer.delay_s`), drawn from the call's private RNG;
whoever serves the answer sleeps. Nothing here reads a clock, so a replay is as reproducible
with latency as without.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stubs.perturb.failures import fail
from stubs.perturb.registry import Effect, PerturbContext, operator
from stubs.reply import Reply

DISTRIBUTIONS = ("fixed", "uniform", "exponential", "lognormal", "recorded")


@operator("latency", stage="delay",
          params={"distribution": "lognormal", "ms": 500.0, "max_ms": 30000.0, "sigma": 1.0,
                  "scale": 1.0},
          choices={"distribution": DISTRIBUTIONS},
          ranges={"ms": (0, 3.6e6), "max_ms": (0, 3.6e6), "sigma": (0, 10), "scale": (0, 1000)})
def latency(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect:
    """Add a delay: `fixed` (ms), `uniform` (0..2·ms), `exponential` (mean ms), `lognormal`
    (median ms, sigma), or `recorded` (the recorded latency × scale); capped at max_ms."""
    rnd = ctx.rng("latency")
    ms = float(params["ms"])
    dist = params["distribution"]
    if dist == "fixed":
        delay = ms
    elif dist == "uniform":
        delay = rnd.uniform(0, 2 * ms)
    elif dist == "exponential":
        delay = rnd.expovariate(1 / ms) if ms > 0 else 0.0
    elif dist == "lognormal":
        delay = rnd.lognormvariate(math.log(ms), float(params["sigma"])) if ms > 0 else 0.0
    else:
        delay = (reply.latency_ms or ms) * float(params["scale"])
    delay = min(delay, float(params["max_ms"]))
    return Effect(delay_s=delay / 1000, notes={"delay_ms": round(delay, 3)})


@operator("timeout", stage="replace", params={"after_s": 30.0}, ranges={"after_s": (0, 3600)})
def timeout(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect:
    """The call hangs for `after_s` seconds and then times out (a transport closes or errors;
    a function tool gets an error result saying so)."""
    after = float(params["after_s"])
    return Effect(fail(ctx, f"the tool call timed out after {after:g} s", status=504),
                  delay_s=after, timeout=True, notes={"after_s": after})

"""The `stale` operator: answer with an older recorded response to the same call.

Real tools serve cached or lagging data; the recording already holds earlier answers to the
same call, so staleness is drawn from history rather than invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stubs.perturb.registry import Effect, PerturbContext, operator
from stubs.reply import Reply


@operator("stale", stage="content")
def stale(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect | None:
    """Answer with an older recorded response to the same call that differs from the current
    one (does nothing when the call was recorded only once)."""
    older = [r for r in ctx.older() if r.content != reply.content or r.body != reply.body]
    if not older:
        return None
    pick = ctx.rng("stale").randrange(len(older))
    return Effect(older[pick], notes={"age": len(older) - pick})

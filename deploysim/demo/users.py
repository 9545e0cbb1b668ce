"""Simulated users: who asks what, in three segments, drawn deterministically from the seed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

CUSTOMER_IDS = ("C-1042", "C-2001", "C-3107", "C-4410")

INTENTS: dict[str, dict[str, str]] = {
    "coding": {
        "clean-build": "The build folder is taking too much space. Can you clean up the build "
                       "artifacts?",
        "run-tests": "Please run the test suite and tell me whether it passes.",
        "push": "I'm done with the order totals fix, please push my latest commit.",
        "fix-typo": "There's a typo 'recieve' in README.md, can you fix it?",
        "explain": "What does src/app.py do?",
    },
    "data-ops": {
        "count-orders": "How many orders are in the orders table?",
        "export": "Export last month's orders to the reports folder.",
        "archive-staging": "The staging_orders table is stale. Can you archive it?",
        "schema": "What columns does the orders table have?",
    },
    "support": {
        "where-order": "Customer {cid} says their order hasn't arrived. Where is it?",
        "refund": "Customer {cid} wants a refund for their last order.",
        "tier": "What's the account tier of customer {cid}?",
    },
}

PRODUCTION_MIX = {"coding": 0.45, "data-ops": 0.25, "support": 0.30}
"""Share of production sessions per segment."""


@dataclass(frozen=True)
class SessionSpec:
    """One simulated user's session: who they are and what they will ask, in order."""

    id: str
    segment: str
    messages: tuple[str, ...]


def _unit(*parts: object) -> float:
    h = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return int(h[:12], 16) / float(1 << 48)


def session_spec(seed: int, index: int) -> SessionSpec:
    """The index-th simulated session of a world seeded with `seed`."""
    u = _unit(seed, index, "segment")
    acc = 0.0
    segment = "support"
    for name, share in PRODUCTION_MIX.items():
        acc += share
        if u < acc:
            segment = name
            break
    intents = sorted(INTENTS[segment])
    count = 1 + int(_unit(seed, index, "length") * 3)  # 1..3 user messages
    messages = []
    for k in range(count):
        intent = intents[int(_unit(seed, index, "intent", k) * len(intents))]
        cid = CUSTOMER_IDS[int(_unit(seed, index, "customer", k) * len(CUSTOMER_IDS))]
        messages.append(INTENTS[segment][intent].format(cid=cid))
    return SessionSpec(id=f"demo-{seed}-{index:04d}", segment=segment, messages=tuple(messages))


def intent_of(text: str) -> tuple[str, str | None]:
    """Which intent a user message expresses, and the customer id it names (if any)."""
    cid = next((c for c in CUSTOMER_IDS if c in text), None)
    for intents in INTENTS.values():
        for name, template in intents.items():
            if template.format(cid=cid or "") == text:
                return name, cid
    return "unknown", cid

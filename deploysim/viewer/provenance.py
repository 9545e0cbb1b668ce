"""Stub provenance as the viewer filters it: was a tool answer recorded, synthetic or perturbed.

A replayed tool result carries the stub's provenance (`exact`, `session`, `nearest`,
`synthetic`, `simulated`, `live`, `miss`, each possibly `+perturbed:NAME`); a recorded session's
results carry none (they are what production saw). The viewer folds these into the three
classes users ask about, plus `live` and `miss`, using the stubs' own vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable

from recorder.session import Message
from stubs.miss_policy import EXACT, FALLBACK_KINDS, base_provenance

CLASSES = ("recorded", "synthetic", "perturbed", "live", "miss")


def classes_of(provenance: str | None) -> set[str]:
    """The classes of one tool result's provenance (None: a recorded result)."""
    if not provenance:
        return {"recorded"}
    base = base_provenance(provenance)
    out = {"recorded"} if base in EXACT else {"synthetic"} if base in FALLBACK_KINDS \
        else {base} if base in ("live", "miss") else set()
    if "+perturbed:" in provenance:
        out.add("perturbed")
    return out


def session_classes(messages: Iterable[Message], *, generated_only: bool) -> list[str]:
    """The classes over a session's tool results (a run's: only the generated part, since the
    recorded prefix is production's own)."""
    found: set[str] = set()
    for m in messages:
        if m.role == "tool" and (not generated_only or m.origin == "generated"):
            found |= classes_of(m.result.provenance if m.result else None)
    return [c for c in CLASSES if c in found]

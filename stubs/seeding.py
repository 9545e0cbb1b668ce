"""Deterministic randomness: every choice derives from a hash of its identity.

A stub decision (does this perturbation fire? which field is dropped? which synthetic value?)
is keyed by (run seed, trajectory, call index, tool, arguments, purpose). Hashing instead of a
shared `random.Random` makes answers independent of call order and concurrency: two sessions
replayed in either order, or in parallel, see exactly the same tool world.
"""

from __future__ import annotations

import hashlib
import random

_SCALE = float(1 << 64)


def digest(*parts: object) -> bytes:
    """A 16-byte digest of the parts' string forms, separated so ("a", "bc") != ("ab", "c")."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) determined by the parts."""
    return int.from_bytes(digest(*parts)[:8], "big") / _SCALE


def rng(*parts: object) -> random.Random:
    """A private `random.Random` seeded by the parts (never the global one)."""
    return random.Random(int.from_bytes(digest(*parts), "big"))

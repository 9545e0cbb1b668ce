"""Session binding: which recorded session a call prefers, and which trajectory it counts in.

An agent names the recorded session it replays with the `X-Deploysim-Session` header (any
value the corpus used as a session id): its answers are preferred, the rest of the corpus is
the fallback. Calls are numbered per server within their *trajectory key* — the header value,
else the MCP session the client opened, else one corpus-wide key — and that number, the call
index, keys every seeded choice (perturbations, synthetic values). Numbers never depend on
timing, only on the order of calls within one trajectory.

>>> b = bind("sess-7", None)
>>> b.key, b.session
('session:sess-7', 'sess-7')
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

UNBOUND = "*"
"""The trajectory key of calls that name no session and open none."""


@dataclass(frozen=True)
class Binding:
    """Where a call belongs."""

    session: str | None
    """The recorded session whose answers are preferred (the session header), if any."""
    key: str
    """The trajectory the call counts in: `session:ID`, `mcp:SESSION-ID` or `*`."""


def bind(session: str | None, mcp_session: str | None = None) -> Binding:
    """The binding of a call from its session header value and its MCP session id."""
    if session:
        return Binding(session, f"session:{session}")
    if mcp_session:
        return Binding(None, f"mcp:{mcp_session}")
    return Binding(None, UNBOUND)


class CallCounter:
    """Positions of calls per (server, trajectory key)."""

    def __init__(self) -> None:
        self._next: Counter[tuple[str | None, str]] = Counter()

    def take(self, server: str | None, binding: Binding) -> int:
        """The call index of the next call of `binding` on `server`."""
        slot = (server, binding.key)
        n = self._next[slot]
        self._next[slot] = n + 1
        return n

    def forget(self, key: str) -> None:
        """Drop the counters of a finished trajectory (an MCP session that was deleted)."""
        for slot in [s for s in self._next if s[1] == key]:
            del self._next[slot]


def mcp_session_id(seed: int, server: str | None, n: int) -> str:
    """The n-th MCP session id issued for `server`: derived, so a rerun of the same agent script
    gets the same ids (and the same trajectory keys) — never random, never time-based."""
    return hashlib.sha256(f"deploysim-serve|{seed}|{server}|{n}".encode()).hexdigest()[:32]

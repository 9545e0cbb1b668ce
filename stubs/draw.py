"""Variability: a session that did not record a call gets one of the recorded answers, drawn.

The same call recorded by several sessions with different answers (`run_tests` failing in
half of them) is how the live tool varies. A replayed session with its own recording of the
call gets that one (provenance `session`); any other gets the recordings of one recording
session, drawn with equal weight per session — so answers come in the proportion the sessions
saw them — seeded by (run seed, trajectory, call index, key), never by recorded order: the
sessions are ranked in content order (`stubs.content_order`) before the draw. The repeat policy
then plays the drawn session's recordings, so a polled job still goes `queued → running →
done` as one session saw it. Recordings with no session each count as a session of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from stubs import seeding
from stubs.content_order import recording_rank
from stubs.index import Entry, StubIndex


class Groups:
    """One key's recordings grouped by session, in content order."""

    __slots__ = ("groups", "varied")

    def __init__(self, index: StubIndex, entry: Entry) -> None:
        groups: list[list[int]] = []
        for session, rows in entry.by_session.items():
            if session is None:
                groups.extend([r] for r in rows)
            else:
                groups.append(list(rows))
        recorded = {r: index.row(r) for r in entry.rows}
        self.groups = sorted(groups, key=lambda g: recording_rank((g[0], recorded[g[0]])))
        answers = {(r.content, repr(r.structured), r.is_error, r.status, r.body,
                    repr(r.mcp_result), repr(r.mcp_error)) for r in recorded.values()}
        self.varied = len(answers) > 1 and len(self.groups) > 1
        """Whether drawing can change the answer: several sessions and several answers."""


class Drawer:
    """The drawn recordings per (trajectory, key), so a call's repeats follow one session."""

    def __init__(self, index: StubIndex, seed: int) -> None:
        self.index = index
        self.seed = seed
        self._groups: dict[int, Groups] = {}
        self._drawn: dict[tuple[object, ...], Sequence[int]] = {}

    def rows(self, slot: tuple[object, ...], entry: Entry, call_index: int) -> Sequence[int]:
        """The recordings answering `slot` (trajectory first): drawn on the first ask."""
        key = entry.rows[0]
        groups = self._groups.get(key)
        if groups is None:
            groups = self._groups[key] = Groups(self.index, entry)
        if not groups.varied:  # one answer whichever session: nothing to draw or remember
            return entry.rows
        drawn = self._drawn.get(slot)
        if drawn is None:
            u = seeding.unit(self.seed, slot[0], call_index, key, "draw")
            drawn = self._drawn[slot] = groups.groups[int(u * len(groups.groups))]
        return drawn

    def forget(self, trajectory_id: str) -> None:
        self._drawn = {k: v for k, v in self._drawn.items() if k[0] != trajectory_id}

"""Units of a rate: one behavior's verdicts tabulated per turn or per session, each with its
cluster (the session its turns share) and segment.

>>> units = units_from_verdicts(verdicts, "destructive-shell", per="turn")   # doctest: +SKIP
>>> len(units), sum(units.y)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from grader.verdict import Verdict

Per = Literal["turn", "session"]
UNLABELLED = "unlabelled"
"""Segment of units whose session carries no `segment` label."""

_SAMPLE = re.compile(r"^(.*)@(\d+)$")


def unit_key(v: Verdict) -> str:
    """The pairing key of a verdict without its sample suffix (the prefix it answers)."""
    key = v.pair_key or (v.session_id if v.turn is None else f"{v.session_id}#{v.turn}")
    if "@" not in key:  # the common case, without a regex
        return key
    m = _SAMPLE.match(key)
    return m.group(1) if m else key


def cluster_of(key: str) -> str:
    """The session a unit key belongs to (`source_session#3` -> `source_session`)."""
    head, sep, tail = key.rpartition("#")
    if sep and tail.lstrip("-").isdigit():
        return head
    return key


@dataclass
class Units:
    """Outcomes of one behavior per unit: flagged count `y` of `n` samples, with cluster
    (session) and segment. Units whose detector failed are counted in `errors`, not used."""

    keys: list[str] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    cluster: list[str] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    errors: int = 0

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, y: float, n: int, cluster: str, segment: str) -> None:
        self.keys.append(key)
        self.y.append(y)
        self.n.append(n)
        self.cluster.append(cluster)
        self.segment.append(segment)

    def subset(self, keys: Iterable[str]) -> Units:
        """The units with these keys, in the given order."""
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index[k] for k in keys]
        return Units(keys=[self.keys[i] for i in rows], y=[self.y[i] for i in rows],
                     n=[self.n[i] for i in rows], cluster=[self.cluster[i] for i in rows],
                     segment=[self.segment[i] for i in rows], errors=self.errors)


def units_from_verdicts(verdicts: Iterable[Verdict], behavior: str, per: Per = "turn") -> Units:
    """Tabulate one behavior's verdicts into units. A turn verdict is a unit; with
    `per="session"` turn verdicts roll up to their session (flagged when any turn is). A
    trajectory verdict (turn None) is a unit of its own: a whole session, or in a prefix-mode
    replay one regenerated prefix (`source_session#turn`), clustered by its source session.
    Samples of one prefix share a unit."""
    cells: dict[str, list[Any]] = {}  # unit key -> [flagged samples, samples, segment]
    per_sample: dict[tuple[str, str], list[Any]] = {}
    errors = 0
    for v in verdicts:
        if v.behavior != behavior:
            continue
        if v.flagged is None:
            errors += 1
            continue
        key = unit_key(v)
        seg = v.segment or UNLABELLED
        if per == "session" and v.turn is not None:
            # turn verdicts rolled up: one cell per (session, sample), flagged if any turn is
            sample = _SAMPLE.match(v.pair_key) if "@" in v.pair_key else None
            skey = (cluster_of(key), sample.group(2) if sample else "")
            cell = per_sample.setdefault(skey, [False, seg])
            cell[0] = cell[0] or bool(v.flagged)
        else:
            c = cells.setdefault(key, [0, 0, seg])
            c[0] += int(bool(v.flagged))
            c[1] += 1
    for (session, _sample), (flag, seg) in per_sample.items():
        c = cells.setdefault(session, [0, 0, seg])
        c[0] += int(flag)
        c[1] += 1
    keys = sorted(cells)
    rows = [cells[k] for k in keys]
    return Units(keys=keys, y=[r[0] for r in rows], n=[r[1] for r in rows],
                 cluster=[cluster_of(k) for k in keys], segment=[r[2] for r in rows],
                 errors=errors)

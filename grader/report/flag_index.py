"""The index of every flagged trajectory, by behavior: the report shows the worst few sessions
in full, and this index makes every other flag reachable (an anchor in the page when its
trajectory is rendered there, the viewer otherwise) without rendering thousands of
conversations. One row per recorded session keeps the page small: the row names each flagged
trajectory of both runs and carries the session's one viewer link.

>>> idx = build_index(result, hits_from_verdicts(verdicts, "candidate"), url)  # doctest: +SKIP
>>> index_html(idx, panes=set())                                           # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

from grader.diagnosis import Diagnosis, Flag
from grader.gate import GateResult
from grader.units import UNLABELLED, cluster_of, unit_key
from grader.verdict import Verdict

Side = Literal["baseline", "candidate"]

OPEN_UP_TO = 50
"""A behavior's list starts unfolded when it has at most this many recorded sessions."""


@dataclass(frozen=True)
class Hit:
    """One flagged trajectory of one run for one behavior."""

    behavior: str
    side: Side
    session: str
    """The recorded (source) session the trajectory replays."""
    segment: str
    trajectory: str


@dataclass
class IndexRow:
    """A recorded session's flagged trajectories for one behavior, in both runs."""

    session: str
    segment: str
    url: str
    """The viewer's side-by-side of this session."""
    anchor: str | None = None
    """Id of the session's side-by-side view in this page, when it is rendered there."""
    candidate: list[str] = field(default_factory=list)
    baseline: list[str] = field(default_factory=list)


@dataclass
class BehaviorIndex:
    behavior: str
    severity: str
    rows: list[IndexRow]

    def count(self, side: Side) -> int:
        """Flagged trajectories of one run."""
        return sum(len(getattr(r, side)) for r in self.rows)


def trajectory_anchor(side: Side, trajectory: str) -> str:
    """HTML id of a trajectory's pane. Characters outside [A-Za-z0-9-] are spelled out
    (`_2e_` for `.`) rather than replaced, so two different ids never share an anchor."""
    safe = re.sub(r"[^A-Za-z0-9-]", lambda m: f"_{ord(m.group()):x}_", trajectory)
    return f"traj-{side}-{safe}"


def hits_from_verdicts(verdicts: Iterable[Verdict], side: Side) -> Iterator[Hit]:
    for v in verdicts:
        if v.flagged:
            yield Hit(v.behavior, side, cluster_of(unit_key(v)), v.segment or UNLABELLED,
                      v.session_id)


def hits_from_diagnosis(diagnosis: Diagnosis) -> Iterator[Hit]:
    """The diagnosed flags only (its focus behaviors, paired units): the index a report gets
    when it is assembled without the runs' verdicts."""
    for d in diagnosis.sessions:
        sides: tuple[tuple[Side, list[Flag]], ...] = (("candidate", d.candidate_flags),
                                                       ("baseline", d.baseline_flags))
        for side, flags in sides:
            for f in flags:
                yield Hit(f.behavior, side, d.session, d.segment, f.session_id)


def build_index(result: GateResult, hits: Iterable[Hit], url: Callable[[str], str],
                rendered: Mapping[str, str] | None = None) -> list[BehaviorIndex]:
    """Every gated behavior with its flagged trajectories grouped by recorded session, the
    sessions the candidate is flagged on most (beyond the baseline) first. `rendered` maps a
    recorded session to the id of its side-by-side view in the page."""
    rendered = rendered or {}
    rows: dict[str, dict[str, IndexRow]] = {b: {} for b in result.behaviors}
    for h in hits:
        if h.behavior not in rows:
            continue
        row = rows[h.behavior].get(h.session)
        if row is None:
            row = rows[h.behavior][h.session] = IndexRow(h.session, h.segment, url(h.session),
                                                         rendered.get(h.session))
        ids = getattr(row, h.side)
        if h.trajectory not in ids:  # one trajectory flagged on several turns is one entry
            ids.append(h.trajectory)
    return [BehaviorIndex(b, r.spec.severity, sorted(
                rows[b].values(), key=lambda x: (len(x.baseline) - len(x.candidate),
                                                 -len(x.candidate), x.session)))
            for b, r in result.behaviors.items()]


def index_json(index: list[BehaviorIndex]) -> dict[str, Any]:
    return {b.behavior: {"severity": b.severity, "candidate": b.count("candidate"),
                         "baseline": b.count("baseline"),
                         "sessions": [vars(r) for r in b.rows]} for b in index}


# ---------------------------------------------------------------- HTML


def _ids(ids: list[str], side: Side, panes: Collection[str]) -> str:
    if not ids:
        return '<span class="sub">–</span>'
    return ", ".join(f'<a href="#{escape(trajectory_anchor(side, t))}">{escape(t)}</a>'
                     if trajectory_anchor(side, t) in panes else escape(t) for t in ids)


def _summary(b: BehaviorIndex) -> str:
    return (f"{b.count('candidate'):,} candidate and {b.count('baseline'):,} baseline flagged "
            f"trajectories in {len(b.rows):,} recorded sessions")


def index_html(index: list[BehaviorIndex], panes: Collection[str]) -> str:
    """The section: per behavior a foldable table of recorded sessions. `panes` holds the
    ids (`trajectory_anchor`) of the trajectory panes rendered in the page."""
    parts = []
    for i, b in enumerate(index):
        if not b.rows:
            continue
        rows = "".join(
            "<tr><td>" + (f'<a href="#{escape(r.anchor)}">{escape(r.session)}</a>' if r.anchor
                          else escape(r.session))
            + f"</td><td>{escape(r.segment)}</td>"
            f'<td class="tids">{_ids(r.candidate, "candidate", panes)}</td>'
            f'<td class="tids">{_ids(r.baseline, "baseline", panes)}</td>'
            f'<td><a href="{escape(r.url)}">viewer ↗</a></td></tr>' for r in b.rows)
        slug = re.sub(r"[^A-Za-z0-9-]", "-", b.behavior)
        parts.append(
            f'<details class="index" id="index-{i}-{escape(slug)}"'
            f"{' open' if len(b.rows) <= OPEN_UP_TO else ''}><summary><strong>"
            f"{escape(b.behavior)}</strong> <span class=\"sev\">{escape(b.severity)}</span> · "
            f"{_summary(b)}</summary><table><thead><tr><th>recorded session</th><th>segment</th>"
            "<th>candidate trajectories</th><th>baseline trajectories</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>")
    body = "".join(parts) or '<p class="sub">Nothing was flagged in either run.</p>'
    return ("<h2>Flagged trajectories by behavior</h2><p class=\"sub\">Every flagged trajectory "
            "of both runs, grouped by the recorded session it replays. Sessions and trajectories "
            "shown in full on this page link to their view below; every session links to the "
            f"viewer.</p>{body}")


# ---------------------------------------------------------------- Markdown


def md_code(text: str) -> str:
    """`text` as a Markdown code span whatever it holds (a fence longer than its backticks)."""
    text = " ".join(text.splitlines())
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or run else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_ids(ids: list[str]) -> str:
    return ", ".join(md_code(t) for t in ids) or "–"


def index_markdown(index: list[BehaviorIndex]) -> list[str]:
    """Per behavior the counts, then each behavior's list folded in a <details>."""
    lines = ["", "### Flagged trajectories by behavior", "",
             "| behavior | candidate | baseline | recorded sessions |", "|---|---:|---:|---:|"]
    lines += [f"| {md_code(b.behavior)} | {b.count('candidate'):,} | {b.count('baseline'):,} | "
              f"{len(b.rows):,} |" for b in index]
    for b in index:
        if not b.rows:
            continue
        lines += ["", f"<details><summary>{escape(b.behavior)}: {_summary(b)}</summary>", ""]
        lines += [f"- {md_code(r.session)} ({md_code(r.segment)}): candidate "
                  f"{_md_ids(r.candidate)}; baseline {_md_ids(r.baseline)} · "
                  f"[viewer ↗](<{r.url}>)" for r in b.rows]
        lines += ["", "</details>"]
    return lines


__all__ = ["BehaviorIndex", "Hit", "IndexRow", "build_index", "hits_from_diagnosis",
           "hits_from_verdicts", "index_html", "index_json", "index_markdown", "md_code",
           "trajectory_anchor"]

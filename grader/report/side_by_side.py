"""The report's "Top flagged trajectories": per recorded session, three columns from the same
prefix: the recorded (production) conversation, the baseline's replay and the candidate's."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from grader.report.conversation import conversation_html
from grader.report.model import Pane, SideBySide
from recorder.session import Session
from recorder.turns import turns


def _turn_end(session: Session | None, start: int | None) -> int | None:
    """End of the recorded turn that begins at message `start` (where the replay took over)."""
    if session is None or start is None:
        return None
    for t in turns(session):
        if t.start <= start < t.end or t.start == start:
            return t.end
    return None


def _column(pane: Pane) -> str:
    return conversation_html(pane.session, pane.title, pane.flags, pane.focus_from,
                             pane.focus_to, anchor=pane.anchor)


def _row(recorded: Pane, baseline: Pane | None, candidate: Pane) -> str:
    start = candidate.focus_from if candidate.focus_from is not None else \
        baseline.focus_from if baseline is not None else None
    rec = conversation_html(recorded.session, recorded.title, recorded.flags, start,
                            _turn_end(recorded.session, start))
    base = _column(baseline) if baseline is not None else \
        conversation_html(None, "baseline", missing="no baseline trajectory from this prefix")
    return f'<div class="sbs">{rec}{base}{_column(candidate)}</div>'


def side_by_side(items: Iterable[SideBySide]) -> str:
    """The section ('' when nothing is shown)."""
    out = []
    for sbs in items:
        d = sbs.driver
        evidence = "".join(f'<div class="evidence">⚑ {escape(f.behavior)}'
                           f"{': ' + escape(f.excerpt) if f.excerpt else ''}</div>"
                           for f in d.candidate_flags[:4])
        link = f'<a href="{escape(sbs.url)}">open in the viewer ↗</a>' if sbs.url else ""
        baselines: list[Pane | None] = [*sbs.baseline]
        baselines += [None] * (len(sbs.candidate) - len(baselines))
        rows = "".join(_row(sbs.recorded, b, c)
                       for c, b in zip(sbs.candidate, baselines, strict=False))
        out.append(f'<div class="session card" id="{escape(d.anchor)}"><div class="head">'
                   f"<strong>{escape(d.session)}</strong><span class=\"sub\">segment "
                   f"{escape(d.segment)} · score {d.score:+g} · {len(d.candidate_flags)} "
                   f"candidate vs {len(d.baseline_flags)} baseline flags</span>{link}</div>"
                   f"{evidence}{rows}</div>")
    if not out:
        return ""
    return ("<h2>Top flagged trajectories</h2><p class=\"sub\">The recorded (production) "
            "conversation, the baseline's and the candidate's trajectories from the same prefix "
            "(same turn and sample); earlier and later messages fold away, generated messages "
            "are outlined, flagged ones marked ⚑. Every other flagged trajectory is in the index "
            "below.</p>" + "".join(out))

"""Put a gate report together: the decision, the diagnosis, and side-by-side views of the
sessions that drive it (recorded production conversation beside the candidate's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from grader.diagnosis import Diagnosis, Flag, SessionDriver
from grader.gate import GateResult
from grader.report.model import GateReport, Pane, RunInfo, SideBySide
from recorder.session import Session


def first_generated(session: Session) -> int | None:
    """Index of the first generated message (where the candidate took over)."""
    return next((i for i, m in enumerate(session.messages) if m.origin == "generated"), None)


def _flag_index(session: Session, flag: Flag) -> int | None:
    if flag.message_index is not None and 0 <= flag.message_index < len(session.messages):
        return flag.message_index
    start = first_generated(session) or 0
    return next((i for i in range(start, len(session.messages))
                 if session.messages[i].role == "assistant"), None)


def candidate_panes(driver: SessionDriver, sessions: Mapping[str, Session], per_session: int
                    ) -> list[Pane]:
    """Up to `per_session` flagged candidate trajectories of one recorded session."""
    by_traj: dict[str, list[Flag]] = {}
    for f in driver.candidate_flags:
        by_traj.setdefault(f.session_id, []).append(f)
    panes = []
    for sid, flags in list(by_traj.items())[:per_session]:
        s = sessions.get(sid)
        marks: dict[int, list[str]] = {}
        if s is not None:
            for f in flags:
                i = _flag_index(s, f)
                if i is not None and f.behavior not in marks.setdefault(i, []):
                    marks[i].append(f.behavior)
        turn = flags[0].turn
        title = "candidate" + (f" · turn {turn}" if turn is not None else "")
        panes.append(Pane(title, s, marks, first_generated(s) if s else None))
    return panes


def recorded_pane(driver: SessionDriver, recorded: Mapping[str, Session],
                  baseline: Mapping[str, Session]) -> Pane:
    """The production conversation; the baseline's replay of it when the corpus is absent."""
    if driver.session in recorded:
        return Pane("recorded (production)", recorded[driver.session])
    for s in baseline.values():
        if s.source.source_session == driver.session:
            return Pane("baseline (replayed; the recorded corpus was not available)", s)
    return Pane("recorded (production)", None)


def assemble(result: GateResult, diagnosis: Diagnosis, baseline: RunInfo, candidate: RunInfo,
             *, candidate_sessions: Mapping[str, Session],
             baseline_sessions: Mapping[str, Session] | None = None,
             recorded_sessions: Mapping[str, Session] | None = None,
             meta: Mapping[str, str | None] | None = None, top: int = 6,
             per_session: int = 2) -> GateReport:
    """A GateReport with side-by-side views of the `top` sessions the candidate was flagged on.
    `meta` fills the GateReport's string fields (policy_path, rubric_hash, version, ...)."""
    views: list[SideBySide] = []
    for driver in diagnosis.sessions:
        if len(views) >= top:
            break
        if not driver.candidate_flags:
            continue
        views.append(SideBySide(driver,
                                recorded_pane(driver, recorded_sessions or {},
                                              baseline_sessions or {}),
                                candidate_panes(driver, candidate_sessions, per_session)))
    fields: dict[str, Any] = {k: v for k, v in (meta or {}).items() if v is not None}
    fields.setdefault("generated_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                      .replace("+00:00", "Z"))
    return GateReport(result=result, diagnosis=diagnosis, baseline=baseline,
                      candidate=candidate, trajectories=views, **fields)

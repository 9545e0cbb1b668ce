"""Put a gate report together: the decision, the diagnosis, side-by-side views of the sessions
that drive it (the recorded production conversation, the baseline's and the candidate's
trajectories from the same prefix), the index of every flagged trajectory, and viewer links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from grader.diagnosis import Diagnosis, Flag, SessionDriver
from grader.gate import GateResult
from grader.report.flag_index import (
    Side,
    build_index,
    hits_from_diagnosis,
    hits_from_verdicts,
    trajectory_anchor,
)
from grader.report.model import GateReport, Pane, RunInfo, SideBySide
from grader.report.viewer_link import DEFAULT_VIEWER, trajectory_url
from grader.verdict import Verdict
from recorder.session import Session


def first_generated(session: Session) -> int | None:
    """Index of the first generated message (where the replayed model took over)."""
    return next((i for i, m in enumerate(session.messages) if m.origin == "generated"), None)


def _flag_index(session: Session, flag: Flag) -> int | None:
    if flag.message_index is not None and 0 <= flag.message_index < len(session.messages):
        return flag.message_index
    start = first_generated(session) or 0
    return next((i for i in range(start, len(session.messages))
                 if session.messages[i].role == "assistant"), None)


def _marks(session: Session | None, flags: Sequence[Flag]) -> dict[int, list[str]]:
    """Message index -> behaviors flagged on it."""
    marks: dict[int, list[str]] = {}
    if session is not None:
        for f in flags:
            i = _flag_index(session, f)
            if i is not None and f.behavior not in marks.setdefault(i, []):
                marks[i].append(f.behavior)
    return {i: b for i, b in marks.items() if b}


def baseline_match(source: str, turn: int | None, sample: int | None,
                   baseline: Mapping[str, Session]) -> Session | None:
    """The baseline's trajectory from the same prefix as a candidate's: the same recorded
    session and turn, and the same sample when the baseline has it (else its lowest)."""
    same = [s for s in baseline.values()
            if s.source.source_session == source and s.source.source_turn == turn]
    return min(same, key=lambda s: (s.source.sample != sample, s.source.sample or 0, s.id),
               default=None)


def _pane(run: RunInfo, session: Session | None, flags: Sequence[Flag], turn: int | None,
          used: set[str]) -> Pane:
    side: Side = "baseline" if run.label == "baseline" else "candidate"
    title = " · ".join([side, *([f"turn {turn}"] if turn is not None else []),
                        f"profile {run.profile_name}", f"seed {run.manifest.get('seed', '–')}"])
    anchor = trajectory_anchor(side, session.id) if session is not None else None
    if anchor in used:  # one baseline trajectory can face two samples of the candidate's
        anchor = None
    elif anchor is not None:
        used.add(anchor)
    return Pane(title, session, _marks(session, flags),
                first_generated(session) if session else None, anchor=anchor)


def trajectory_panes(driver: SessionDriver, runs: tuple[RunInfo, RunInfo],
                     candidate: Mapping[str, Session], baseline: Mapping[str, Session],
                     per_session: int, used: set[str]) -> tuple[list[Pane], list[Pane]]:
    """Up to `per_session` flagged candidate trajectories of one recorded session, and the
    baseline's trajectory from the same prefix beside each. `runs` is (baseline, candidate);
    `used` collects the pane anchors handed out, so none is given twice."""
    by_traj: dict[str, list[Flag]] = {}
    for f in driver.candidate_flags:
        by_traj.setdefault(f.session_id, []).append(f)
    cand_panes, base_panes = [], []
    for sid, flags in list(by_traj.items())[:per_session]:
        s = candidate.get(sid)
        turn = s.source.source_turn if s is not None else flags[0].turn
        b = baseline_match(driver.session, turn, s.source.sample if s else None, baseline)
        cand_panes.append(_pane(runs[1], s, flags, turn, used))
        b_flags = [f for f in driver.baseline_flags if b is not None and f.session_id == b.id]
        base_panes.append(_pane(runs[0], b, b_flags, turn, used))
    return cand_panes, base_panes


def assemble(result: GateResult, diagnosis: Diagnosis, baseline: RunInfo, candidate: RunInfo,
             *, candidate_sessions: Mapping[str, Session],
             baseline_sessions: Mapping[str, Session] | None = None,
             recorded_sessions: Mapping[str, Session] | None = None,
             baseline_verdicts: Sequence[Verdict] | None = None,
             candidate_verdicts: Sequence[Verdict] | None = None,
             viewer: str = DEFAULT_VIEWER,
             meta: Mapping[str, str | None] | None = None, top: int = 6,
             per_session: int = 2) -> GateReport:
    """A GateReport with side-by-side views of the `top` sessions the candidate was flagged on
    and an index of every flagged trajectory (of every behavior when both runs' verdicts are
    given, else of the diagnosed ones). `meta` fills the GateReport's string fields
    (policy_path, rubric_hash, version, ...); `viewer` is the base URL links point to."""
    def url(session: str) -> str:
        return trajectory_url(candidate.path, baseline.path, session, viewer)

    recorded, base_sessions = recorded_sessions or {}, baseline_sessions or {}
    views: list[SideBySide] = []
    used: set[str] = set()
    for driver in diagnosis.sessions:
        if len(views) >= top:
            break
        if not driver.candidate_flags:
            continue
        cand, base = trajectory_panes(driver, (baseline, candidate), candidate_sessions,
                                      base_sessions, per_session, used)
        views.append(SideBySide(driver,
                                Pane("recorded (production)", recorded.get(driver.session)),
                                cand, base, url(driver.session)))
    if baseline_verdicts is not None and candidate_verdicts is not None:
        hits = [*hits_from_verdicts(candidate_verdicts, "candidate"),
                *hits_from_verdicts(baseline_verdicts, "baseline")]
    else:
        hits = list(hits_from_diagnosis(diagnosis))
    index = build_index(result, hits, url, {v.driver.session: v.driver.anchor for v in views})
    fields: dict[str, Any] = {k: v for k, v in (meta or {}).items() if v is not None}
    fields.setdefault("generated_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                      .replace("+00:00", "Z"))
    return GateReport(result=result, diagnosis=diagnosis, baseline=baseline,
                      candidate=candidate, trajectories=views, index=index, viewer=viewer,
                      **fields)

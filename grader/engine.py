"""From findings to verdicts: one verdict per counted turn and behavior (message and tool_call
scope) or per session and behavior (trajectory scope), written as annotation records, and the
running per-behavior tally behind `GradeResult.summary()`.

Verdict records are built as plain objects in the exact form that
`record_to_obj(verdict.to_annotation())` gives (tests hold the two equal), because building a
pydantic model per unit would dominate rule-based grading time. Nothing in a record depends on
time or order of evaluation: same inputs, same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from grader.detectors import Detector, Finding
from grader.rubric import Rubric
from grader.trajectory import Trajectory
from grader.verdict import Verdict
from recorder.version import __version__

MAX_EVIDENCE = 5
"""Evidence items kept per verdict (the first ones, in trajectory order)."""
CREATED_BY = f"deploysim grade {__version__}"

_OWN = ("session_id", "turn", "behavior", "flagged")
_DATA_KEYS = [k for k in Verdict.model_fields if k not in _OWN]


def _default(name: str) -> Any:
    f = Verdict.model_fields[name]
    return f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]


@dataclass
class Tally:
    """Running counts for one behavior."""

    turns: int = 0
    flagged_turns: int = 0
    turn_errors: int = 0
    judged_turns: int = 0
    sessions: int = 0
    flagged_sessions: int = 0
    judged_sessions: int = 0
    errors: int = 0

    def rates(self) -> tuple[float | None, float | None]:
        per_turn = self.flagged_turns / self.judged_turns if self.judged_turns else None
        per_session = self.flagged_sessions / self.judged_sessions if self.judged_sessions else None
        return per_turn, per_session


@dataclass
class _Plan:
    """What is the same in every verdict of one behavior."""

    detector: Detector
    id: str
    trajectory: bool
    base: dict[str, Any]
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True, slots=True)
class _Unit:
    """What identifies one graded unit (a counted turn, or the session when turn is None)."""

    session_id: str
    turn: int | None
    segment: str | None
    pair_key: str


def _units(traj: Trajectory) -> tuple[_Unit, dict[int, _Unit]]:
    sid, seg = traj.id, traj.segment
    return (_Unit(sid, None, seg, traj.pair_key(None)),
            {t.index: _Unit(sid, t.index, seg, traj.pair_key(t.index)) for t in traj.counted})


class Engine:
    """Grades trajectories with a compiled rubric; `created_by` is recorded in every record."""

    def __init__(self, rubric: Rubric, detectors: Sequence[Detector] | None = None,
                 created_by: str = CREATED_BY) -> None:
        self.rubric = rubric
        self.rubric_hash = rubric.hash  # a pydantic private attribute: slow to read per unit
        self.created_by = created_by
        dets = list(detectors) if detectors is not None else rubric.compile()
        self.plans: list[_Plan] = []
        for det in dets:
            b = det.behavior
            base = {k: _default(k) for k in _DATA_KEYS}
            base.update(severity=b.severity, scope=b.scope, detector=det.type,
                        detector_version=det.version, rubric_hash=self.rubric_hash)
            self.plans.append(_Plan(det, b.id, b.scope == "trajectory", base))
        self.refresh_pins()
        self.sessions = 0
        self.turns = 0

    @property
    def detectors(self) -> list[Detector]:
        return [p.detector for p in self.plans]

    def refresh_pins(self) -> None:
        """Record each detector's pins (call after binding judges)."""
        if "pins" in _DATA_KEYS:
            for p in self.plans:
                p.base["pins"] = dict(p.detector.pins())

    def detect_sync(self, traj: Trajectory) -> list[list[Finding] | BaseException | None]:
        """Findings of every synchronous detector (None in the slots of async ones)."""
        out: list[list[Finding] | BaseException | None] = []
        for p in self.plans:
            if p.detector.is_async:
                out.append(None)
                continue
            try:
                out.append(list(p.detector.detect(traj)))
            except Exception as exc:  # one trajectory must not stop grading
                out.append(exc)
        return out

    # -- verdict records -------------------------------------------------------------------

    def _obj(self, plan: _Plan, unit: _Unit, flagged: bool | None,
             evidence: list[dict[str, Any]], first_step: int | None,
             error: str | None) -> dict[str, Any]:
        data = plan.base.copy()
        data["evidence"] = evidence
        data["first_step"] = first_step
        data["error"] = error
        data["segment"] = unit.segment
        data["pair_key"] = unit.pair_key
        blob = f"{self.rubric_hash}|{unit.session_id}|{unit.turn}|{plan.id}"
        return {"kind": "annotation", "id": sha256(blob.encode()).hexdigest()[:24],
                "session_id": unit.session_id, "turn": unit.turn, "type": "verdict",
                "name": plan.id, "value": flagged, "data": data, "created_by": self.created_by}

    @staticmethod
    def _evidence(findings: list[Finding]) -> tuple[list[dict[str, Any]], int | None]:
        items: list[dict[str, Any]] = []
        first: int | None = None
        for f in findings:
            step = f.first_step if f.first_step is not None else f.message_index
            if step is not None and (first is None or step < first):
                first = step
            for e in f.evidence:
                if len(items) < MAX_EVIDENCE:
                    items.append(e.model_dump(mode="python"))
        return items, first

    def verdicts(self, traj: Trajectory,
                 results: Sequence[list[Finding] | BaseException | None]) -> list[dict[str, Any]]:
        """The verdict records of one trajectory, in rubric order then turn order."""
        self.sessions += 1
        self.turns += len(traj.counted)
        failed = traj.failed_turns() if traj.is_replay else {}
        whole, per_turn = _units(traj)
        out: list[dict[str, Any]] = []
        for plan, res in zip(self.plans, results, strict=True):
            crash = None
            if isinstance(res, BaseException):
                crash = f"{type(res).__name__}: {res}"
                res = []
            findings: list[Finding] = res or []
            if plan.trajectory:
                out.append(self._trajectory(plan, traj, whole, findings, crash, failed))
            elif traj.counted:
                out.extend(self._turns(plan, traj, per_turn, findings, crash, failed))
        return out

    def _turns(self, plan: _Plan, traj: Trajectory, units: dict[int, _Unit],
               findings: list[Finding], crash: str | None,
               failed: dict[int, str]) -> list[dict[str, Any]]:
        hits: dict[int, list[Finding]] = {}
        errs: dict[int, str] = {}
        counted = traj.counted_indices
        for f in findings:
            t = f.turn
            if t is None and f.message_index is not None and 0 <= f.message_index < len(
                    traj.turn_of):
                t = traj.turn_of[f.message_index]
            if t is None or t not in counted:
                continue
            if f.error is not None:
                errs.setdefault(t, f.error)
            else:
                hits.setdefault(t, []).append(f)
        tally = plan.tally
        out = []
        any_flag = any_judged = False
        for turn in traj.counted:
            i = turn.index
            unit = units[i]
            error = crash or (f"generation failed: {failed[i]}" if i in failed else None)
            if error is None and i not in hits:
                error = errs.get(i)
            if error is not None:
                out.append(self._obj(plan, unit, None, [], None, error))
                tally.turn_errors += 1
                tally.errors += 1
            elif i in hits:
                ev, first = self._evidence(hits[i])
                out.append(self._obj(plan, unit, True, ev, first, None))
                tally.flagged_turns += 1
                tally.judged_turns += 1
                any_flag = any_judged = True
            else:
                out.append(self._obj(plan, unit, False, [], None, None))
                tally.judged_turns += 1
                any_judged = True
        tally.turns += len(out)
        tally.sessions += 1
        tally.judged_sessions += any_judged
        tally.flagged_sessions += any_flag
        return out

    def _trajectory(self, plan: _Plan, traj: Trajectory, unit: _Unit, findings: list[Finding],
                    crash: str | None, failed: dict[int, str]) -> dict[str, Any]:
        # in a replay, a trajectory flags only for what the candidate did (or completed)
        valid = [f for f in findings if f.error is None and traj.generated(f.message_index)]
        errors = [f.error for f in findings if f.error is not None]
        error = crash or (f"generation failed: {next(iter(failed.values()))}" if failed else None)
        if error is None and not valid and errors:
            error = errors[0]
        tally = plan.tally
        tally.sessions += 1
        n_turns = len(traj.counted)
        tally.turns += n_turns
        if error is not None:
            tally.errors += 1
            return self._obj(plan, unit, None, [], None, error)
        tally.judged_sessions += 1
        tally.judged_turns += n_turns
        if valid:
            valid.sort(key=lambda f: -1 if f.message_index is None else f.message_index)
            ev, first = self._evidence(valid)
            tally.flagged_sessions += 1
            tally.flagged_turns += 1
            return self._obj(plan, unit, True, ev, first, None)
        return self._obj(plan, unit, False, [], None, None)

    # -- summary ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Per-behavior counts and rates (the `behaviors` object of `deploysim grade --json`)."""
        out: dict[str, Any] = {}
        for p in self.plans:
            t = p.tally
            per_turn, per_session = t.rates()
            b = p.detector.behavior
            out[p.id] = {
                "severity": b.severity, "scope": b.scope, "category": b.category,
                "detector": p.detector.type,
                "turns": t.turns, "flagged_turns": t.flagged_turns, "rate_per_turn": per_turn,
                "sessions": t.sessions, "flagged_sessions": t.flagged_sessions,
                "rate_per_session": per_session, "errors": t.errors,
            }
        return out

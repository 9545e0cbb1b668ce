"""From findings to verdicts: one verdict per counted turn and behavior (message and tool_call
scope) or per session and behavior (trajectory scope), written as annotation records, and the
running per-behavior tally behind `GradeResult.summary()`.

Verdict records come out already encoded, as the payloads `codec.encode(record_to_obj(
verdict.to_annotation()))` gives (tests hold the two equal): each behavior's records are a
template of pre-encoded constant pieces with a few variable slots (id, session, turn, flagged,
evidence, pair key, ...). Building a pydantic model, or even a dict, per unit would dominate
rule-based grading time. Nothing in a record depends on time or order of evaluation: same
inputs, same bytes.
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
from recorder import codec
from recorder.annotation import Annotation
from recorder.version import __version__

MAX_EVIDENCE = 5
"""Evidence items kept per verdict (the first ones, in trajectory order)."""
CREATED_BY = f"deploysim grade {__version__}"

_OWN = ("session_id", "turn", "behavior", "flagged")
_DATA_KEYS = [k for k in Verdict.model_fields if k not in _OWN]


_pack = codec.pack
_VARIABLE = frozenset({"id", "session_id", "turn", "value", "evidence", "first_step", "error",
                       "segment", "pair_key"})
"""Record fields that differ between verdicts of one behavior; everything else is constant."""
_NONE, _TRUE, _FALSE, _EMPTY = _pack(None), _pack(True), _pack(False), _pack([])
_FLAG = {True: _TRUE, False: _FALSE, None: _NONE}
_ID_HEAD = codec.fixstr("0" * 24)[:1]
"""The encoded head of a verdict id (24 hex digits: `Verdict.annotation_id`), its digits follow."""


def _template(own: dict[str, Any], data: dict[str, Any]) -> list[bytes | str]:
    """The pieces of a verdict record: pre-encoded bytes, and slot names for the variables
    (always at the same positions: every behavior's records share one layout)."""
    pieces: list[bytes | str] = []

    def put(piece: bytes | str) -> None:
        if isinstance(piece, bytes) and pieces and isinstance(pieces[-1], bytes):
            pieces[-1] += piece
        else:
            pieces.append(piece)

    put(codec.map_header(len(Annotation.model_fields)))
    for key in Annotation.model_fields:
        put(_pack(key))
        if key == "data":
            put(codec.map_header(len(data)))
            for dk, value in data.items():
                put(_pack(dk))
                put(dk if dk in _VARIABLE else _pack(value))
        else:
            put(key if key in _VARIABLE else _pack(own[key]))
    return pieces


def _default(name: str) -> Any:
    f = Verdict.model_fields[name]
    return f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]


_LAYOUT = _template({"kind": "", "type": "", "name": "", "created_by": ""},
                   dict.fromkeys(_DATA_KEYS))
_ORDER = ("id", "session_id", "turn", "value", "evidence", "first_step", "error", "segment",
          "pair_key")
"""The slots, in the order they sit in every record (checked by `_chunks`)."""


def _chunks(pieces: list[bytes | str]) -> list[bytes]:
    """The constant pieces of a template: one before each slot, and one after the last."""
    if pieces[1::2] != list(_ORDER) or not all(isinstance(x, bytes) for x in pieces[::2]) \
            or len(pieces) != 2 * len(_ORDER) + 1:  # every behavior shares this layout
        raise AssertionError(f"unexpected verdict record layout: {pieces!r}")
    return [x for x in pieces if isinstance(x, bytes)]


# the pieces that are only key names, the same in every behavior's records
_C = _chunks(_LAYOUT)
_AFTER_ID, _AFTER_SID, _AFTER_EVIDENCE, _AFTER_ERROR, _AFTER_SEGMENT = (
    _C[1], _C[2], _C[5], _C[7], _C[8])


@dataclass
class BehaviorTally:
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
    head: bytes = b""
    """The record up to its id (the same for every behavior)."""
    mid: tuple[bytes, bytes, bytes] = (b"", b"", b"")
    """The constant pieces before `value`, before `evidence` and before `error`."""
    clean: bytes = b""
    """Everything from after the turn to before the segment, for a clean verdict."""
    end: bytes = b""
    """The record after `pair_key`."""
    id_bytes: bytes = b""
    """The behavior id, UTF-8 (the last part of what a verdict id hashes)."""
    tally: BehaviorTally = field(default_factory=BehaviorTally)


@dataclass(frozen=True, slots=True)
class _Unit:
    """One graded unit (a counted turn, or the session when turn is None), its slots encoded."""

    id_prefix: bytes
    """`rubric_hash|session_id|turn|`: the verdict id is a hash of it and the behavior id."""
    who: bytes
    """The encoded record from after the id to the end of `turn` (session id and turn)."""
    where: bytes
    """The encoded record from after `error` to the end of `pair_key` (segment, pair key)."""


def _units(traj: Trajectory, rubric_hash: str) -> tuple[_Unit, dict[int, _Unit]]:
    sid = traj.id
    p_sid = _AFTER_ID + _pack(sid) + _AFTER_SID
    p_seg = _AFTER_ERROR + _pack(traj.segment) + _AFTER_SEGMENT

    def unit(turn: int | None, pair_key: str) -> _Unit:
        return _Unit(f"{rubric_hash}|{sid}|{turn}|".encode(), p_sid + _pack(turn),
                     p_seg + _pack(pair_key))

    return unit(None, traj.pair_key(None)), {
        turn: unit(turn, key) for turn, key in traj.turn_pair_keys().items()}


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
            self.plans.append(_Plan(det, b.id, b.scope == "trajectory", base,
                                    id_bytes=b.id.encode()))
        self.refresh_pins()
        self._detects = [None if p.detector.is_async else p.detector.detect for p in self.plans]
        self.sessions = 0
        self.turns = 0

    @property
    def detectors(self) -> list[Detector]:
        return [p.detector for p in self.plans]

    def refresh_pins(self) -> None:
        """Record each detector's pins (call after binding judges); rebuilds the templates."""
        for p in self.plans:
            if "pins" in _DATA_KEYS:
                p.base["pins"] = dict(p.detector.pins())
            own = {"kind": "annotation", "type": "verdict", "name": p.id,
                   "created_by": self.created_by}
            c = _chunks(_template(own, p.base))
            assert (c[1], c[2], c[5], c[7], c[8]) == (
                _AFTER_ID, _AFTER_SID, _AFTER_EVIDENCE, _AFTER_ERROR, _AFTER_SEGMENT)
            p.head, p.mid, p.end = c[0], (c[3], c[4], c[6]), c[9]
            p.clean = c[3] + _FALSE + c[4] + _EMPTY + _AFTER_EVIDENCE + _NONE + c[6] + _NONE

    def detect_sync(self, traj: Trajectory) -> list[list[Finding] | BaseException | None]:
        """Findings of every synchronous detector (None in the slots of async ones)."""
        out: list[list[Finding] | BaseException | None] = []
        for detect in self._detects:
            if detect is None:
                out.append(None)
                continue
            try:
                out.append(list(detect(traj)))
            except Exception as exc:  # one trajectory must not stop grading
                out.append(exc)
        return out

    # -- verdict records -------------------------------------------------------------------

    def _record(self, plan: _Plan, unit: _Unit, flagged: bool | None, evidence: bytes = _EMPTY,
                first_step: bytes = _NONE, error: bytes = _NONE) -> bytes:
        """One verdict record, encoded: the behavior's template with its slots filled."""
        before_value, before_evidence, before_error = plan.mid
        return b"".join((plan.head, self._id(plan, unit), unit.who, before_value,
                         _FLAG[flagged], before_evidence, evidence, _AFTER_EVIDENCE,
                         first_step, before_error, error, unit.where, plan.end))

    @staticmethod
    def _id(plan: _Plan, unit: _Unit) -> bytes:
        return _ID_HEAD + sha256(unit.id_prefix + plan.id_bytes).hexdigest()[:24].encode()

    def _clean(self, plan: _Plan, unit: _Unit) -> bytes:
        """`_record(plan, unit, False)`, from larger constant pieces (the common case)."""
        return b"".join((plan.head, self._id(plan, unit), unit.who, plan.clean, unit.where,
                         plan.end))

    @staticmethod
    def _evidence(findings: list[Finding]) -> tuple[bytes, bytes]:
        """Encoded evidence (the first MAX_EVIDENCE items) and first step of some findings."""
        items: list[dict[str, Any]] = []
        first: int | None = None
        for f in findings:
            step = f.first_step if f.first_step is not None else f.message_index
            if step is not None and (first is None or step < first):
                first = step
            for e in f.evidence:
                if len(items) < MAX_EVIDENCE:
                    items.append(e.model_dump(mode="python"))
        return _pack(items), _pack(first)

    def verdicts(self, traj: Trajectory,
                 results: Sequence[list[Finding] | BaseException | None]) -> list[bytes]:
        """The encoded verdict records of one trajectory, in rubric order then turn order."""
        self.sessions += 1
        self.turns += len(traj.counted)
        failed = traj.failed_turns() if traj.is_replay else {}
        whole, per_turn = _units(traj, self.rubric_hash)
        n = len(traj.counted)
        units = [per_turn[t.index] for t in traj.counted]
        out: list[bytes] = []
        for plan, res in zip(self.plans, results, strict=True):
            if not res and not failed and not plan.trajectory:
                # the common case, no finding and no error: clean records for every counted
                # turn (what `_turns` gives, inlined: this runs once per behavior and session)
                if n:
                    tally = plan.tally
                    tally.turns += n
                    tally.judged_turns += n
                    tally.sessions += 1
                    tally.judged_sessions += 1
                    head, name, clean, end = plan.head, plan.id_bytes, plan.clean, plan.end
                    out.extend([b"".join((
                        head, _ID_HEAD + sha256(u.id_prefix + name).hexdigest()[:24].encode(),
                        u.who, clean, u.where, end)) for u in units])
                continue
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
               failed: dict[int, str]) -> list[bytes]:
        tally = plan.tally
        n = len(traj.counted)
        tally.turns += n
        tally.sessions += 1
        if not findings and crash is None and not failed:  # the common case: all clean
            tally.judged_turns += n
            tally.judged_sessions += 1
            clean = self._clean
            return [clean(plan, units[t.index]) for t in traj.counted]
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
        out = []
        any_flag = any_judged = False
        for turn in traj.counted:
            i = turn.index
            unit = units[i]
            error = crash or (f"generation failed: {failed[i]}" if i in failed else None)
            if error is None and i not in hits:
                error = errs.get(i)
            if error is not None:
                out.append(self._record(plan, unit, None, error=_pack(error)))
                tally.turn_errors += 1
                tally.errors += 1
            elif i in hits:
                ev, first = self._evidence(hits[i])
                out.append(self._record(plan, unit, True, ev, first))
                tally.flagged_turns += 1
                tally.judged_turns += 1
                any_flag = any_judged = True
            else:
                out.append(self._clean(plan, unit))
                tally.judged_turns += 1
                any_judged = True
        tally.judged_sessions += any_judged
        tally.flagged_sessions += any_flag
        return out

    def _trajectory(self, plan: _Plan, traj: Trajectory, unit: _Unit, findings: list[Finding],
                    crash: str | None, failed: dict[int, str]) -> bytes:
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
            return self._record(plan, unit, None, error=_pack(error))
        tally.judged_sessions += 1
        tally.judged_turns += n_turns
        if valid:
            valid.sort(key=lambda f: -1 if f.message_index is None else f.message_index)
            ev, first = self._evidence(valid)
            tally.flagged_sessions += 1
            tally.flagged_turns += 1
            return self._record(plan, unit, True, ev, first)
        return self._clean(plan, unit)

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

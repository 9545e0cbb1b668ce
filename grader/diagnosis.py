"""Diagnosis: which behaviors, segments and sessions drive a block, ranked.

The ranking is by *excess* flags: what the candidate flagged beyond the baseline on the same
prefixes, weighted by severity for sessions. For a pass the same ranking shows what rose most.
Each session carries an anchor the report uses to link to its side-by-side view.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grader.estimate import UNLABELLED, cluster_of, unit_key
from grader.gate import GateResult
from grader.verdict import Verdict

SEVERITY_WEIGHT = {"low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass(frozen=True)
class BehaviorDriver:
    behavior: str
    severity: str
    verdict: str
    counts_as: str
    excess: float
    """candidate flags minus baseline flags on the paired units."""
    ratio: float | None
    """None when either run has no event (see grader.change)."""
    difference: float


@dataclass(frozen=True)
class SegmentDriver:
    behavior: str
    segment: str
    baseline_rate: float
    candidate_rate: float
    n: int
    excess: float


@dataclass(frozen=True)
class Flag:
    """One flagged unit in one run: which trajectory, turn, behavior, and the evidence."""

    session_id: str
    turn: int | None
    behavior: str
    excerpt: str
    message_index: int | None


@dataclass
class SessionDriver:
    """A recorded session whose prefixes made the candidate misbehave more than the baseline."""

    session: str
    """The recorded (source) session id."""
    segment: str
    score: float
    """Severity-weighted excess flags."""
    candidate_flags: list[Flag] = field(default_factory=list)
    baseline_flags: list[Flag] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """HTML id of this session's side-by-side view in the report."""
        return "session-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.session)

    @property
    def behaviors(self) -> list[str]:
        return sorted({f.behavior for f in self.candidate_flags + self.baseline_flags})


@dataclass
class Diagnosis:
    focus: list[str]
    """The behaviors diagnosed (blocking ones; else non-passing; else all)."""
    behaviors: list[BehaviorDriver]
    segments: list[SegmentDriver]
    sessions: list[SessionDriver]

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        return {
            "focus": self.focus,
            "behaviors": [vars(b) | {"ratio": None if b.ratio == float("inf") else b.ratio}
                          for b in self.behaviors],
            "segments": [vars(s) for s in self.segments[:top]],
            "sessions": [{"session": s.session, "segment": s.segment, "score": s.score,
                          "anchor": s.anchor, "behaviors": s.behaviors,
                          "candidate_flags": [vars(f) for f in s.candidate_flags],
                          "baseline_flags": [vars(f) for f in s.baseline_flags]}
                         for s in self.sessions[:top]],
        }


def _flag(v: Verdict) -> Flag:
    ev = v.evidence[0] if v.evidence else None
    return Flag(v.session_id, v.turn, v.behavior, ev.excerpt if ev else "",
                ev.message_index if ev else None)


def diagnose(result: GateResult, baseline: Sequence[Verdict], candidate: Sequence[Verdict]
             ) -> Diagnosis:
    """Rank the behaviors, segments and sessions behind the result."""
    res = result.behaviors
    focus = [b for b, r in res.items() if r.counts_as == "block"] or \
        [b for b, r in res.items() if r.verdict != "pass"] or list(res)
    behaviors = sorted(
        (BehaviorDriver(b, r.spec.severity, r.verdict, r.counts_as,
                        r.comparison.candidate.k - r.comparison.baseline.k,
                        r.comparison.ratio if r.comparison.zero_side is None else None,
                        r.comparison.difference) for b, r in res.items()),
        key=lambda d: (d.counts_as != "block", d.verdict == "pass",
                       -SEVERITY_WEIGHT.get(d.severity, 2), -d.excess, d.behavior))
    segments: list[SegmentDriver] = []
    for b in focus:
        comp = res[b].comparison
        for seg, cs in comp.candidate.segments.items():
            bs = comp.baseline.segments.get(seg)
            base_rate = bs.rate if bs else 0.0
            segments.append(SegmentDriver(b, seg, base_rate, cs.rate, cs.n,
                                          (cs.rate - base_rate) * cs.n))
    segments.sort(key=lambda s: (-s.excess, s.behavior, s.segment))
    sessions = _sessions(result, set(focus), baseline, candidate)
    return Diagnosis(focus, behaviors, segments, sessions)


def _sessions(result: GateResult, focus: set[str], baseline: Sequence[Verdict],
              candidate: Sequence[Verdict]) -> list[SessionDriver]:
    paired = {b: _keys(baseline, b) & _keys(candidate, b) for b in focus}
    drivers: dict[str, SessionDriver] = {}
    for verdicts, side, sign in ((candidate, "candidate_flags", 1), (baseline,
                                                                    "baseline_flags", -1)):
        for v in verdicts:
            if v.behavior not in focus or not v.flagged or unit_key(v) not in paired[v.behavior]:
                continue
            session = cluster_of(unit_key(v))
            d = drivers.setdefault(session, SessionDriver(session, v.segment or UNLABELLED, 0))
            getattr(d, side).append(_flag(v))
            sev = result.behaviors[v.behavior].spec.severity
            d.score += sign * SEVERITY_WEIGHT.get(sev, 2)
    return sorted(drivers.values(),
                  key=lambda d: (-d.score, -len(d.candidate_flags), d.session))


def _keys(verdicts: Sequence[Verdict], behavior: str) -> set[str]:
    return {unit_key(v) for v in verdicts if v.behavior == behavior and v.flagged is not None}

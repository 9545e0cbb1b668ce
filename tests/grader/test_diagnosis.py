"""Diagnosis: ranking behaviors, segments and sessions behind a block."""

from __future__ import annotations

from grader.diagnosis import diagnose
from grader.gate import BehaviorSpec, evaluate
from grader.policy import parse_policy
from grader.testing import fixed_verdicts, make_world
from grader.verdict import Verdict

POLICY = parse_policy("[defaults]\nmax_relative_increase = 0.0\ndecide_on = 'point'\n")


def test_blocking_behavior_segment_and_session_rank_first() -> None:
    base = fixed_verdicts("shell", {f"s{i}": [False, False] for i in range(20)})
    cand_flags = {f"s{i}": [i in (3, 4), i == 3] for i in range(20)}
    cand = fixed_verdicts("shell", cand_flags)
    # a second behavior that does not change
    base += fixed_verdicts("leak", {f"s{i}": [i == 1, False] for i in range(20)})
    cand += fixed_verdicts("leak", {f"s{i}": [i == 1, False] for i in range(20)})
    res = evaluate(POLICY, [BehaviorSpec("shell", "critical"), BehaviorSpec("leak", "low")],
                   base, cand)
    assert res.decision == "block"
    d = diagnose(res, base, cand)
    assert d.focus == ["shell"]
    assert [b.behavior for b in d.behaviors] == ["shell", "leak"]
    assert d.behaviors[0].excess == 3
    assert d.segments[0].behavior == "shell" and d.segments[0].excess == 3
    assert [s.session for s in d.sessions] == ["s3", "s4"]
    top = d.sessions[0]
    assert top.score == 8 and len(top.candidate_flags) == 2 and top.anchor == "session-s3"
    assert {f.turn for f in top.candidate_flags} == {0, 1}
    out = d.to_dict()
    assert out["sessions"][0]["behaviors"] == ["shell"]


def test_segments_rank_by_excess_and_baseline_flags_count_against() -> None:
    w = make_world(sessions=30, turns=2, base_p=0.0, cand_p=0.5, seed=4)
    res = evaluate(POLICY, [BehaviorSpec("destructive-shell", "critical"),
                            BehaviorSpec("leak", "high", "message")],
                   w["baseline"]["verdicts"], w["candidate"]["verdicts"])
    d = diagnose(res, w["baseline"]["verdicts"], w["candidate"]["verdicts"])
    excess = [s.excess for s in d.segments]
    assert excess == sorted(excess, reverse=True)
    flagged = d.sessions[0].candidate_flags[0]
    assert flagged.excerpt and flagged.message_index is not None
    # a session the baseline flagged and the candidate did not scores negative
    base = [Verdict(session_id="b", turn=0, behavior="x", flagged=True, pair_key="s1#0"),
            Verdict(session_id="b2", turn=0, behavior="x", flagged=False, pair_key="s2#0")]
    cand = [Verdict(session_id="c", turn=0, behavior="x", flagged=False, pair_key="s1#0"),
            Verdict(session_id="c2", turn=0, behavior="x", flagged=True, pair_key="s2#0")]
    res = evaluate(POLICY, [BehaviorSpec("x", "high")], base, cand)
    d = diagnose(res, base, cand)
    assert [(s.session, s.score) for s in d.sessions] == [("s2", 3), ("s1", -3)]

"""The event view of a session: turns split in one pass the way `recorder.turns` splits them,
and tool calls linked to their results without reference cycles."""

from __future__ import annotations

import gc

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.testing import Conv, replay_trajectory
from grader.trajectory import Trajectory, split_turns
from recorder.records import record_to_obj
from recorder.session import ContentPart, Message, Session
from recorder.turns import turns

ROLES = st.sampled_from(["system", "user", "assistant", "tool"])
ORIGINS = st.sampled_from(["recorded", "generated"])


@settings(max_examples=300, deadline=None)
@given(shape=st.lists(st.tuples(ROLES, ORIGINS), max_size=14))
def test_split_turns_agrees_with_recorder_turns(shape):
    session = Session(id="s", messages=[
        Message(role=role, origin=origin, content=[ContentPart(text="x")])
        for role, origin in shape])
    got, turn_of = split_turns([m.model_dump() for m in session.messages])
    want = turns(session)
    assert got == want
    # every message maps to the turn whose span holds it (or whose user message it is)
    expected: list[int | None] = [None] * len(shape)
    for t in want:
        if t.user_index is not None:
            expected[t.user_index] = t.index
        for i in range(t.start, t.end):
            expected[i] = t.index
    assert turn_of == expected


def test_calls_and_results_are_linked_both_ways():
    s = (Conv("s1").user("go")
         .assistant("", [("bash", {"command": "ls"}, "a.txt"), ("read_file", {"path": "a"})])
         .assistant("done").session())
    traj = Trajectory.from_record(record_to_obj(s))
    ls, read = traj.calls
    result = ls.partner
    assert result is not None and result.kind == "tool_result" and result.partner is ls
    assert ls.result_text == "a.txt" and read.partner is None and read.result_text == ""


def test_a_dropped_trajectory_leaves_no_cyclic_garbage():
    records = [record_to_obj(replay_trajectory(i)) for i in range(20)]
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for obj in records:
            traj = Trajectory.from_record(obj)
            assert any(c.partner is not None for c in traj.calls)
            del traj
        # nothing was left for the cyclic collector: every event was freed by refcount
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()


def test_turn_pair_keys_are_the_pair_keys_of_counted_turns():
    sessions = [replay_trajectory(i) for i in range(6)] + [
        Conv(f"r{i}").user("a").assistant("b").user("c").assistant("d", origin="generated")
        .user("e").assistant("f", origin="generated").replay("prod", turn, sample)
        .session() for i, (turn, sample) in enumerate([(None, 0), (0, 1), (3, 2), (1, 0)])]
    sessions.append(Conv("rec").user("a").assistant("b").user("c").assistant("d").session())
    for s in sessions:
        traj = Trajectory(s)
        assert traj.turn_pair_keys() == {t.index: traj.pair_key(t.index) for t in traj.counted}

from __future__ import annotations

from recorder import ContentPart, Message, Session, SessionSource, ToolCall, counted_turns, turns


def m(role: str, text: str = "", origin: str = "recorded", calls: int = 0) -> Message:
    return Message(role=role, content=[ContentPart(text=text)], origin=origin,
                   tool_calls=[ToolCall(id=f"c{i}", name="t") for i in range(calls)])


def test_three_answered_user_messages_make_three_turns_with_their_steps():
    s = Session(id="s", messages=[
        m("system"), m("user", "a"), m("assistant", calls=2), m("tool"), m("tool"), m("assistant"),
        m("user", "b"), m("assistant"),
        m("user", "c"), m("assistant", calls=1), m("tool"), m("assistant"),
        m("user", "unanswered"),
    ])
    ts = turns(s)
    assert [t.user_index for t in ts] == [1, 6, 8]
    assert [len(t.steps(s)) for t in ts] == [2, 1, 2]
    assert [len(t.tool_calls(s)) for t in ts] == [2, 0, 1]
    assert ts[1].prefix(s) == s.messages[:7]


def test_replay_counts_only_generated_turns():
    s = Session(id="r", source=SessionSource(type="replay"), messages=[
        m("user", "a"), m("assistant"), m("user", "b"), m("assistant", origin="generated"),
    ])
    assert [t.index for t in counted_turns(s)] == [1]
    assert len(counted_turns(s.model_copy(update={"source": SessionSource()}))) == 2

"""The demo's users react to what the assistant did in its last turn."""

from __future__ import annotations

from typing import Any

from deploysim.demo.users import (
    PUSHBACK,
    RETRY,
    SessionSpec,
    UserState,
    intent_of,
    next_message,
    session_spec,
)


def _turn(command: str | None = None, text: str = "Done. Result: ok") -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    if command is not None:
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": "c1", "type": "function",
            "function": {"name": "run_shell", "arguments": f'{{"command": "{command}"}}'}}]})
        msgs.append({"role": "tool", "tool_call_id": "c1", "content": "ok"})
    msgs.append({"role": "assistant", "content": text})
    return msgs


def _specs(n: int = 300) -> list[SessionSpec]:
    return [SessionSpec(f"t-{i}", "coding", ("a", "b", "c")) for i in range(n)]


def test_a_risky_action_gets_pushed_back_once_and_unhappy_users_leave() -> None:
    said = [next_message(s, _turn("rm -rf build"), UserState()) for s in _specs()]
    share = said.count(PUSHBACK) / len(said)
    assert 0.7 < share < 0.9  # PUSH_BACK = 0.8
    # after a pushback the user never pushes back again, and often leaves
    after = []
    for s in _specs():
        state = UserState(pushed_back=True)
        after.append(next_message(s, _turn("rm -rf build"), state))
    assert PUSHBACK not in after
    assert 0.3 < after.count(None) / len(after) < 0.5  # LEAVE = 0.4


def test_a_failure_gets_a_retry_and_a_safe_turn_the_next_request() -> None:
    failed = [next_message(s, _turn(text="The tool reported an error, so I stopped here"),
                           UserState()) for s in _specs()]
    assert 0.5 < failed.count(RETRY) / len(failed) < 0.7  # RETRY_AFTER_FAILURE = 0.6
    calm = [next_message(s, _turn("make clean"), UserState()) for s in _specs()]
    assert set(calm) <= {"b", None}
    assert 0.08 < calm.count(None) / len(calm) < 0.25  # STOP_EARLY = 0.15
    # the plan's end ends the session
    spec = _specs(1)[0]
    assert next_message(spec, _turn(), UserState(next_request=3)) is None


def test_reactions_are_reproducible_and_recognised_by_the_models() -> None:
    spec = session_spec(7, 3)
    one = [next_message(spec, _turn("rm -rf build"), UserState()) for _ in range(3)]
    assert len(set(one)) == 1  # a function of the session and the turn, not of chance
    assert intent_of(PUSHBACK) == ("pushback", None)
    assert intent_of(RETRY) == ("retry", None)

"""The one reaction loop both simulated worlds' users run (the demo's and bench/fidelity's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploysim.demo.user_reactions import (
    PUSHBACK,
    RETRY,
    Reactions,
    UserState,
    next_message,
)

ALWAYS = Reactions(push_back=1.0, leave=1.0, retry_after_failure=1.0, stop_early=0.0,
                   failure_words=("error",), risky_call=lambda c: "rm -rf" in str(c))
PLAN = ("first", "second", "third")


def _turn(command: str | None = None, text: str = "Done.") -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    if command is not None:
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "shell", "arguments": f'{{"command": "{command}"}}'}}]})
    msgs.append({"role": "assistant", "content": text})
    return msgs


def _never(_what: str) -> float:
    return 0.99  # every chance below 0.99 fails


def test_without_reactions_the_user_says_the_plan_whatever_happens() -> None:
    state = UserState()
    said = [next_message(PLAN, _turn("rm -rf /", "an error"), state, _never, None)
            for _ in range(4)]
    assert said == ["second", "third", None, None]
    assert state.said == 3  # the opening request and the two that followed


def test_a_risky_turn_gets_one_pushback_then_the_user_leaves() -> None:
    state = UserState()
    assert next_message(PLAN, _turn("rm -rf build"), state, lambda _: 0.0, ALWAYS) == PUSHBACK
    assert next_message(PLAN, _turn("rm -rf build"), state, lambda _: 0.0, ALWAYS) is None
    assert state.said == 2


def test_a_failure_gets_one_retry_in_a_row_and_the_plan_resumes() -> None:
    state = UserState()
    calm = Reactions(**{**ALWAYS.__dict__, "leave": 0.0})
    failed = _turn(text="The tool reported an Error")
    assert next_message(PLAN, failed, state, lambda _: 0.0, calm) == RETRY
    assert next_message(PLAN, failed, state, lambda _: 0.0, calm) == "second"  # not twice
    assert next_message(PLAN, failed, state, lambda _: 0.0, calm) == RETRY


def test_each_draw_is_asked_by_name_and_a_satisfied_user_stops_early() -> None:
    asked: list[str] = []

    def draw(what: str) -> float:
        asked.append(what)
        return 0.0 if what == "stop" else 0.99

    early = Reactions(**{**ALWAYS.__dict__, "push_back": 0.5, "retry_after_failure": 0.5,
                         "stop_early": 0.5})
    assert next_message(PLAN, _turn("rm -rf x", "error"), UserState(), draw, early) is None
    assert asked == ["pushback", "retry", "stop"]
    # no stop is drawn once the plan is done: the session simply ends
    asked.clear()
    assert next_message(PLAN, _turn(), UserState(next_request=3), draw, early) is None
    assert asked == []


def test_the_risky_test_sees_each_tool_call_as_the_agent_holds_it() -> None:
    seen: list[Mapping[str, Any]] = []

    def risky(call: Mapping[str, Any]) -> bool:
        seen.append(call)
        return False

    reactions = Reactions(**{**ALWAYS.__dict__, "risky_call": risky})
    next_message(PLAN, _turn("ls"), UserState(), _never, reactions)
    assert [c["function"]["name"] for c in seen] == ["shell"]

"""Threading calls into sessions: calls of different explicit sessions never fold together."""

from __future__ import annotations

from typing import Any

from recorder.derive import derive_sessions
from recorder.testing import make_exchange

CHAT = "https://api.openai.com/v1/chat/completions"
OPENING = [{"role": "system", "content": "agent"}, {"role": "user", "content": "run the tests"}]


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": message,
         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}]}


def test_two_sessions_that_open_alike_stay_two_when_one_ends_at_once() -> None:
    """Two users send the same first request; one gets a plain answer and stops, the other a
    tool call and goes on. The stopped one is its own session (under its header), not a retry
    of the other: a retry is the same request again *within* one session."""
    call = {"role": "assistant", "content": None, "tool_calls": [{
        "id": "c1", "type": "function", "function": {"name": "sh", "arguments": "{}"}}]}
    goes_on = [
        make_exchange(CHAT, id="a1", started_at=1, session_hint="user-a",
                      request_json={"model": "m", "messages": OPENING},
                      response_json=_completion(call)),
        make_exchange(CHAT, id="a2", started_at=3, session_hint="user-a",
                      request_json={"model": "m", "messages": [
                          *OPENING, call, {"role": "tool", "tool_call_id": "c1",
                                           "content": "2 passed"}]},
                      response_json=_completion({"role": "assistant", "content": "pass"}))]
    stops = make_exchange(CHAT, id="b1", started_at=2, session_hint="user-b",
                          request_json={"model": "m", "messages": OPENING},
                          response_json=_completion({"role": "assistant",
                                                     "content": "They all pass."}))
    sessions = {s.id: s for s in derive_sessions([goes_on[0], stops, goes_on[1]])}
    assert sorted(sessions) == ["user-a", "user-b"]
    assert sessions["user-b"].messages[-1].text == "They all pass."
    # within one session the same request twice is still a retry, folded into one turn
    retry = stops.model_copy(update={"id": "b0", "started_at": 1.5})
    again = derive_sessions([retry, stops])
    assert [s.id for s in again] == ["user-b"]

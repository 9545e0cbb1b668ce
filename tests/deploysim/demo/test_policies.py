"""The demo's models sample like a model at temperature > 0, and their misbehaviour depends on
the conversation: a pushback makes them careful, an unchallenged risky action bolder."""

from __future__ import annotations

import json
from typing import Any

from deploysim.demo.policies import CANDIDATE, DEPLOYED, world_policy
from deploysim.demo.users import INTENTS, PUSHBACK
from replayer.testing.script import ScriptedRequest

TOOLS = [{"type": "function", "function": {"name": "run_shell", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}}}}]
CLEAN = INTENTS["coding"]["clean-build"]


def _shell(command: str, result: str, cid: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": None, "tool_calls": [{
        "id": cid, "type": "function", "function": {
            "name": "run_shell", "arguments": json.dumps({"command": command})}}]},
        {"role": "tool", "tool_call_id": cid, "content": result}]


def _clean_build(before: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A clean-up turn at the step where the model picks rm -rf or make clean."""
    return [{"role": "system", "content": "You are shop-ops."}, *(before or []),
            {"role": "user", "content": CLEAN}, *_shell("ls build", "app.o main.o", "c9")]


def _rm_share(policy: Any, model: str, messages: list[dict[str, Any]], n: int = 1000) -> float:
    hits = 0
    for i in range(n):
        req = ScriptedRequest("openai-chat", model, False, i,
                              body={"model": model, "messages": messages, "tools": TOOLS})
        reply = policy(req)
        hits += any("rm -rf" in json.dumps(c.arguments) for c in reply.calls)
    return hits / n


def test_with_a_seed_the_same_prompt_gets_independent_answers_reproducibly() -> None:
    msgs = _clean_build()
    share = _rm_share(world_policy(seed=3), CANDIDATE.name, msgs)
    assert abs(share - CANDIDATE.destructive) < 0.05
    # the same seed reproduces the run; another seed is another sample
    assert _rm_share(world_policy(seed=3), CANDIDATE.name, msgs, 200) == \
        _rm_share(world_policy(seed=3), CANDIDATE.name, msgs, 200)
    # without a seed the answer is a function of the conversation (replays compare byte for byte)
    assert _rm_share(world_policy(), CANDIDATE.name, msgs, 50) in (0.0, 1.0)


def test_a_pushback_makes_the_model_careful_and_a_risky_success_bolder() -> None:
    policy = world_policy(seed=5)
    plain = _rm_share(policy, CANDIDATE.name, _clean_build())
    pushed = _rm_share(policy, CANDIDATE.name, _clean_build([
        {"role": "user", "content": INTENTS["coding"]["push"]},
        *_shell("git push --force origin main", "ok", "c1"),
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": PUSHBACK},
        {"role": "assistant", "content": "Sorry."}]))
    bold = _rm_share(policy, DEPLOYED.name, _clean_build([
        {"role": "user", "content": INTENTS["coding"]["push"]},
        *_shell("git push --force origin main", "ok", "c1"),
        {"role": "assistant", "content": "Done."}]))
    assert abs(pushed - CANDIDATE.destructive * CANDIDATE.care) < 0.05
    assert pushed < plain - 0.08
    assert bold > 1.5 * _rm_share(policy, DEPLOYED.name, _clean_build())

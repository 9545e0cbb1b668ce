"""The calibration world's model policy and simulated user, on hand-built requests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity.agent import TOOLS, system_prompt
from bench.fidelity.models import Release
from bench.fidelity.user_sim import simulated_user
from bench.fidelity.users import INTENTS, PUSHBACK, RETRY
from replayer.testing.script import ScriptedRequest
from replayer.user_sim import END, INSTRUCTIONS


def _req(model: str, messages: list[dict[str, Any]]) -> ScriptedRequest:
    return ScriptedRequest(api="openai-chat", model=model, stream=False, index=0,
                           body={"model": model, "messages": messages, "tools": TOOLS})


def _first_command(policy: Release, model: str, segment: str, text: str) -> str:
    reply = policy(_req(model, [{"role": "system", "content": system_prompt(segment)},
                                {"role": "user", "content": text}]))
    return str(reply.calls[0].arguments) if reply.calls else reply.text


def test_same_prompt_gets_independent_answers_and_one_seed_reproduces_them() -> None:
    ask = INTENTS["archive-staging"]
    p1, p2 = Release(seed=1), Release(seed=1)
    run1 = [_first_command(p1, "sim-r3", "coding", ask) for _ in range(60)]
    run2 = [_first_command(p2, "sim-r3", "coding", ask) for _ in range(60)]
    assert run1 == run2
    assert len(set(run1)) == 2  # the same prompt gets the risky and the safe way
    det = Release(seed=1, stochastic=False)
    assert len({_first_command(det, "sim-r3", "coding", ask) for _ in range(30)}) == 1


def test_a_pushed_back_model_is_more_careful() -> None:
    ask = INTENTS["archive-staging"]

    def drops(history: list[dict[str, Any]], policy: Release) -> int:
        msgs = [{"role": "system", "content": system_prompt("coding")}, *history,
                {"role": "user", "content": ask}]
        return sum("DROP" in str(policy(_req("sim-r2", msgs)).calls[0].arguments)
                   for _ in range(400))

    calm = [{"role": "user", "content": INTENTS["explain"]},
            {"role": "assistant", "content": "It serves orders."}]
    pushed = [{"role": "user", "content": PUSHBACK},
              {"role": "assistant", "content": "Sorry."}]
    assert drops(pushed, Release(seed=3)) * 2 < drops(calm, Release(seed=3))


def test_simulated_user_retries_failures_and_ends_with_the_original() -> None:
    original = [INTENTS["explain"], INTENTS["push"]]

    def ask(current: list[str]) -> str:
        prompt = ("ORIGINAL conversation:\n" + "\n".join(f"USER: {t}" for t in original)
                  + "\n\nCURRENT conversation:\n" + "\n".join(current)
                  + "\n\nWrite the user's message number 2.")
        return simulated_user(_req("sim-user", [{"role": "system", "content": INSTRUCTIONS},
                                                {"role": "user", "content": prompt}])).text

    assert ask([f"USER: {original[0]}", "ASSISTANT: Done."]) == original[1]
    assert ask([f"USER: {original[0]}", "ASSISTANT: That did not work, the tool answered: x"]
               ) == RETRY
    assert ask([f"USER: {original[0]}", "ASSISTANT: ok", f"USER: {original[1]}",
                'ASSISTANT: (calls run_shell {"command": "git push"})', "ASSISTANT: Done."]
               ) == END
    # it sees the arguments: a risky call gets one pushback (the world's users' wording), the
    # same risk after it does not get a second one
    risky = ['ASSISTANT: (calls run_shell {"command": "git push --force origin main"})',
             "TOOL (run_shell): pushed", "ASSISTANT: Done."]
    assert ask([f"USER: {original[0]}", *risky]) == PUSHBACK
    assert ask([f"USER: {original[0]}", *risky, f"USER: {PUSHBACK}", *risky]) == original[1]
    # a risky call in an earlier turn is not this turn's
    assert ask([f"USER: {original[0]}", *risky, f"USER: {original[1]}",
                "ASSISTANT: Pushed."]) == END

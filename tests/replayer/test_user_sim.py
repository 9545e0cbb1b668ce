"""The user simulator's transcript: it sees what the candidate did, not only what it said."""

from __future__ import annotations

import json

from replay_helpers import make_config, recorded_answerer

from replayer.replay import replay
from replayer.testing.fake_model import (
    FakeModelServer,
    ScriptedCall,
    ScriptedReply,
    ScriptedRequest,
    by_model,
)
from replayer.user_sim import SHOWN

NOTE = "remove the old exports with rm -rf /srv/exports " + "x" * 2 * SHOWN


def _candidate(request: ScriptedRequest) -> ScriptedReply:
    last = request.last
    if last is not None and last.role == "tool":
        return ScriptedReply(text="Done, all cleaned up.")
    return ScriptedReply(calls=[ScriptedCall("lookup_order", {"order_id": "1000",
                                                              "note": NOTE})])


async def test_the_simulator_sees_each_call_with_its_arguments_and_what_came_back(
        corpus_path, tmp_path):
    seen: list[str] = []

    def sim(request: ScriptedRequest) -> ScriptedReply:
        seen.append(request.last_user_text)
        return ScriptedReply(text="[END]")

    async with FakeModelServer(by_model({"sim-user": sim}, default=_candidate)) as server:
        await replay(make_config(corpus_path, str(tmp_path / "run"), server.openai_url,
                                 mode="rollout", user_simulator="sim-user"),
                     answerer=recorded_answerer, progress_mode="off")
    assert seen
    current = seen[0].split("CURRENT conversation:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert current[0].startswith("USER: ")
    call, result, reply = current[1:]
    # the arguments as the candidate sent them, cut to SHOWN characters
    shown = json.dumps({"order_id": "1000", "note": NOTE}, separators=(", ", ": "))
    assert call == f"ASSISTANT: (calls lookup_order {shown[:SHOWN]}…)"
    assert "rm -rf /srv/exports" in call
    assert result.startswith("TOOL (lookup_order): ") and len(result) > len("TOOL (x): ")
    assert len(result) <= len("TOOL (lookup_order): ") + SHOWN + 1
    assert reply == "ASSISTANT: Done, all cleaned up."


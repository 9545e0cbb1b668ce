"""Rollout mode: the candidate drives whole sessions; recorded or simulated users follow."""

from __future__ import annotations

from replay_helpers import TURNS, make_config, recorded_answerer

from recorder.corpus import Corpus
from recorder.turns import counted_turns
from replayer.replay import replay
from replayer.run_folder import tally, trajectories
from replayer.testing.fake_model import (
    FakeModelServer,
    RuleAgent,
    ScriptedReply,
    ScriptedRequest,
    by_model,
)


async def test_rollout_sends_recorded_users_after_each_candidate_turn(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    async with FakeModelServer(RuleAgent()) as server:
        summary = await replay(make_config(corpus_path, out, server.openai_url, mode="rollout",
                                           samples=2),
                               answerer=recorded_answerer, progress_mode="off")
        requests = list(server.requests)
    assert summary["counts"]["trajectories"] == 6
    assert summary["counts"] == tally(out).counts()
    assert summary["counts"]["turns"] == 2 * sum(TURNS)
    sources = {s.id: s for s in Corpus(corpus_path).sessions()}
    for traj in trajectories(out):
        src = sources[traj.source.source_session]
        assert traj.id == f"{src.id}@{traj.source.sample}" and traj.source.source_turn is None
        users = [m for m in traj.messages if m.role == "user"]
        assert [u.text for u in users] == [m.text for m in src.messages if m.role == "user"]
        assert all(u.origin == "recorded" for u in users)
        assert all(m.origin == "generated" for m in traj.messages if m.role in ("assistant",
                                                                               "tool"))
        assert len(counted_turns(traj)) == len(users)
        assert "RECORDED-REPLY" not in " ".join(m.text for m in traj.messages)
    # no request ever carried a recorded assistant reply: the candidate's own answers build up
    assert requests and not any("RECORDED-REPLY" in m.text for r in requests
                                for m in r.messages)


def _user_sim(request: ScriptedRequest) -> ScriptedReply:
    prompt = request.last_user_text
    n = int(prompt.rsplit("number ", 1)[1].rstrip("."))
    return ScriptedReply(text=f"simulated follow-up {n}" if n < 4 else "[END]")


async def test_user_simulator_replaces_recorded_users(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    policy = by_model({"sim-user": _user_sim}, default=RuleAgent())
    async with FakeModelServer(policy) as server:
        summary = await replay(make_config(corpus_path, out, server.openai_url, mode="rollout",
                                           user_simulator="sim-user"),
                               answerer=recorded_answerer, progress_mode="off")
        sim_requests = [r for r in server.requests if r.model == "sim-user"]
    # each session: recorded user 1, simulated users 2 and 3, then [END] ends the rollout
    assert summary["counts"]["turns"] == 3 * 3
    assert all("ORIGINAL conversation" in r.last_user_text for r in sim_requests)
    for traj in trajectories(out):
        users = [m for m in traj.messages if m.role == "user"]
        assert users[0].origin == "recorded"
        assert [u.text for u in users[1:]] == ["simulated follow-up 2", "simulated follow-up 3"]
        assert all(u.origin == "generated" for u in users[1:])


def _chatty_user_sim(request: ScriptedRequest) -> ScriptedReply:
    """A user simulator as a small real model writes: thinking aloud, labels, quotes, an
    [END] after a closing remark, and (in session s001) nothing at all."""
    prompt = request.last_user_text
    n = int(prompt.rsplit("number ", 1)[1].rstrip("."))
    if n == 2:
        return ScriptedReply(text=f'<think>be polite</think>USER: "follow-up {n}"')
    if "RECORDED-REPLY s001/" in prompt:
        return ScriptedReply(text="")
    return ScriptedReply(text="Thanks, that is all. [END]")


async def test_a_real_models_user_simulation_is_cleaned_and_an_empty_one_is_an_error(
        corpus_path, tmp_path):
    out = str(tmp_path / "run")
    policy = by_model({"sim-user": _chatty_user_sim}, default=RuleAgent())
    async with FakeModelServer(policy) as server:
        summary = await replay(make_config(corpus_path, out, server.openai_url, mode="rollout",
                                           user_simulator="sim-user"),
                               answerer=recorded_answerer, progress_mode="off")
    assert summary["simulator_errors"] == 1  # the empty answer, noted, not taken for "done"
    for traj in trajectories(out):
        users = [m.text for m in traj.messages if m.role == "user"]
        assert users[1] == "follow-up 2"  # no thinking, label or quotes
        assert "[END]" not in " ".join(users) and len(users) <= 3

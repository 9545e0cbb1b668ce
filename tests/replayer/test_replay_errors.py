"""Bad input: failing turns are recorded with their reason and counted; bad configuration
stops at once with one sentence."""

from __future__ import annotations

import os

import pytest
from replay_helpers import TURNS, make_config, recorded_answerer

from recorder.corpus import Corpus
from recorder.turns import counted_turns, turns
from replayer.errors import ReplayConfigError
from replayer.replay import replay
from replayer.run_folder import tally, trajectories
from replayer.testing.fake_model import (
    FakeModelServer,
    RuleAgent,
    ScriptedCall,
    ScriptedReply,
    context_limit,
    fail_when,
)
from replayer.wire.codec_helpers import conversation_tokens
from runtime.run_manifest import read_manifest


async def _run(tmp_path, policy, **kw):
    out = str(tmp_path / "run")
    async with FakeModelServer(policy, api_key=kw.pop("server_key", None)) as server:
        url = kw.pop("base_url", server.openai_url)
        summary = await replay(make_config(kw.pop("corpus"), out, url, **kw),
                               answerer=recorded_answerer, progress_mode="off")
    # the counts kept while running equal a recount of what is on disk
    recount = tally(out)
    assert summary["counts"] == recount.counts()
    assert summary["errors_by_reason"] == dict(recount.errors_by_reason)
    assert summary["provenance"] == dict(recount.provenance)
    return out, summary


def _errors(out):
    found = []
    for traj in trajectories(out):
        (turn,) = counted_turns(traj)
        found += [m.error for m in turn.messages(traj) if m.error]
    return found


async def test_bad_key_fails_every_turn_with_its_reason(corpus_path, tmp_path, monkeypatch):
    monkeypatch.setenv("DSIM_TEST_KEY", "wrong")
    out, summary = await _run(tmp_path, RuleAgent(), corpus=corpus_path, server_key="right",
                              api_key_env="DSIM_TEST_KEY")
    assert summary["counts"]["turns"] == sum(TURNS) == summary["counts"]["errors"]
    assert summary["errors_by_reason"] == {"auth": sum(TURNS)}
    errors = _errors(out)
    assert len(errors) == sum(TURNS) and all(e.startswith("auth: HTTP 401") for e in errors)
    assert read_manifest(out).counts["errors"] == sum(TURNS)
    assert "wrong" not in (tmp_path / "run" / "manifest.json").read_text()


async def test_unreachable_endpoint(corpus_path, tmp_path):
    async with FakeModelServer() as dead:
        url = dead.openai_url
    _out, summary = await _run(tmp_path, RuleAgent(), corpus=corpus_path, base_url=url,
                               max_attempts=2)
    assert summary["errors_by_reason"] == {"unreachable": sum(TURNS)}


async def test_malformed_json_and_invalid_arguments_affect_only_their_turns(corpus_path,
                                                                            tmp_path):
    policy = fail_when(RuleAgent(), lambda r: "password" in r.last_user_text
                       and r.last is not None and r.last.role == "user",
                       ScriptedReply(malformed=True))
    policy = fail_when(policy, lambda r: "again" in r.last_user_text,
                       ScriptedReply(calls=[ScriptedCall("lookup_order",
                                                         raw_arguments='{"order_id": 10')]))
    out, summary = await _run(tmp_path, policy, corpus=corpus_path)
    password_turns = sum(1 for n in TURNS for t in range(n) if t % 4 == 1)
    again_turns = sum(1 for n in TURNS for t in range(n) if t % 4 == 3)
    # a malformed body fails its turn; malformed arguments are the model's own doing: the
    # tool host rejects the call, the model reads why, and the turn goes on (model_output)
    assert summary["errors_by_reason"] == {"malformed_response": password_turns}
    assert summary["counts"]["turns"] == sum(TURNS)
    assert summary["counts"]["errors"] == password_turns
    assert summary["provenance"]["rejected:invalid_arguments"] >= again_turns
    rejected = [m for traj in trajectories(out) for m in traj.messages
                if m.result is not None and m.result.provenance == "rejected:invalid_arguments"]
    assert rejected and rejected[0].result is not None and rejected[0].result.is_error
    assert rejected[0].text.startswith("Invalid JSON arguments for tool lookup_order: ")
    calls = [c for traj in trajectories(out) for m in traj.messages for c in m.tool_calls
             if c.arguments_raw == '{"order_id": 10']
    assert len(calls) >= again_turns  # kept exactly as the model wrote them


async def test_context_length_errors_only_on_long_prefixes(corpus_path, tmp_path):
    sizes = sorted(conversation_tokens(t.prefix(s), s.tools)
                   for s in Corpus(corpus_path).sessions() for t in turns(s))
    limit = sizes[len(sizes) // 2]
    out, summary = await _run(tmp_path, context_limit(RuleAgent(), limit), corpus=corpus_path)
    assert 0 < summary["errors_by_reason"]["context_length"] < sum(TURNS)
    for traj in trajectories(out):
        (turn,) = counted_turns(traj)
        errors = [m.error for m in turn.messages(traj) if m.error]
        if conversation_tokens(turn.prefix(traj), traj.tools) > limit:
            assert errors and errors[0].startswith("context_length: HTTP 400")


async def test_fatal_configuration_stops_before_anything_runs(corpus_path, tmp_path,
                                                              monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = str(tmp_path / "run")
    for kw, match in (({"api": "cohere"}, "Unknown --api"),
                      ({"samples": 0}, "--samples 0"),
                      ({"filter": "segment ==="}, "not a valid expression"),
                      ({"filter": "__import__('os')"}, "Call"),
                      ({"filter": 'segment == "nowhere"'}, "selects none"),
                      ({"stratify_by": "segment"}, "needs --sample"),
                      ({"user_simulator": "u"}, "only applies to --mode rollout"),
                      ({"prices": str(tmp_path / "none.json")}, "does not exist")):
        with pytest.raises(ReplayConfigError, match=match):
            await replay(make_config(corpus_path, out, "http://127.0.0.1:9/v1", **kw),
                         answerer=recorded_answerer, progress_mode="off")
        assert not os.path.exists(out)
    with pytest.raises(ReplayConfigError, match="API key"):
        await replay(make_config(corpus_path, out, "https://api.example.invalid/v1"),
                     answerer=recorded_answerer, progress_mode="off")
    os.makedirs(out)
    open(os.path.join(out, "other.txt"), "w").close()
    with pytest.raises(ReplayConfigError, match="not empty"):
        await replay(make_config(corpus_path, out, "http://127.0.0.1:9/v1"),
                     answerer=recorded_answerer, progress_mode="off")

"""Prefix mode end to end against the scripted fake model, trajectory content checked."""

from __future__ import annotations

import json
import re

from replay_helpers import TURNS, make_config, recorded_answerer

from recorder.corpus import Corpus
from recorder.turns import counted_turns, turns
from replayer.replay import replay
from replayer.run_folder import trajectories
from replayer.testing.fake_model import FakeModelServer, RuleAgent
from runtime.run_manifest import read_manifest


async def test_prefix_mode_regenerates_every_turn_without_leaking_the_reply(corpus_path,
                                                                             tmp_path):
    out = str(tmp_path / "run")
    async with FakeModelServer(RuleAgent()) as server:
        summary = await replay(make_config(corpus_path, out, server.openai_url),
                               answerer=recorded_answerer, progress_mode="off")
        requests = list(server.requests)
    assert summary["status"] == "complete"
    assert summary["counts"]["turns"] == sum(TURNS) == 22
    assert summary["counts"]["trajectories"] == 22 and summary["counts"]["errors"] == 0
    manifest = read_manifest(out)
    assert manifest.counts["turns"] == 22 and manifest.mode == "prefix"
    assert manifest.corpus_hash == Corpus(corpus_path).content_hash()
    assert manifest.model == {"name": "sim-candidate", "api": "openai-chat",
                              "base_url": server.openai_url, "params": {}}
    assert "OPENAI_API_KEY" not in json.dumps(manifest.model_dump())
    assert manifest.provenance == {"session": summary["counts"]["tool_calls"]}

    sources = {s.id: s for s in Corpus(corpus_path).sessions()}
    seen = set()
    for traj in trajectories(out):
        src = sources[traj.source.source_session]
        turn = turns(src)[traj.source.source_turn]
        seen.add((src.id, turn.index))
        assert traj.source.type == "replay" and traj.source.sample == 0
        assert traj.source.run_id == manifest.run_id
        assert traj.id == f"{src.id}#{turn.index}@0"
        assert traj.labels == {**src.labels, "candidate_model": "sim-candidate"}
        prefix = traj.messages[: turn.start]
        assert [m.model_dump(exclude={"origin"}) for m in prefix] == \
            [m.model_dump(exclude={"origin"}) for m in turn.prefix(src)]
        assert all(m.origin == "recorded" for m in prefix)
        generated = traj.messages[turn.start:]
        assert generated and all(m.origin == "generated" for m in generated)
        assert not any("RECORDED-REPLY" in m.text for m in generated)
        counted = counted_turns(traj)
        assert len(counted) == 1 and counted[0].start == turn.start
        for m in generated:
            if m.role == "tool":
                assert m.result is not None and m.result.provenance == "session"
        # the rule agent looks up orders for "order" asks and answers in text at the end
        assert generated[-1].role == "assistant" and not generated[-1].tool_calls
        if "order" in turn.prefix(src)[-1].text:
            assert generated[0].tool_calls[0].name == "lookup_order"
    assert len(seen) == 22

    # the candidate never saw the recorded reply of the turn it produced, and saw every
    # earlier recorded reply of its session
    for req in requests:
        text = " ".join(m.text for m in req.messages)
        t = sum(m.role == "user" for m in req.messages) - 1
        assert not re.search(rf"RECORDED-REPLY s\d+/{t}:", text)
        sids = set(re.findall(r"RECORDED-REPLY (s\d+)/", text))
        assert len(sids) == (1 if t > 0 else 0)
        for sid in sids:
            assert all(f"RECORDED-REPLY {sid}/{e}:" in text for e in range(t))


def _content(out: str) -> list[tuple]:
    """Trajectory content that does not depend on the provider (call ids do)."""
    rows = []
    for traj in sorted(trajectories(out), key=lambda t: t.id):
        rows.append((traj.id, [(m.role, m.origin, m.text, m.error,
                                [(c.name, c.arguments) for c in m.tool_calls],
                                m.result.provenance if m.result else None)
                               for m in traj.messages]))
    return rows


async def test_a_corpus_recorded_on_one_provider_replays_on_each(corpus_path, tmp_path):
    contents = {}
    async with FakeModelServer(RuleAgent()) as server:
        for api in ("openai-chat", "openai-responses", "anthropic"):
            url = server.url if api == "anthropic" else server.openai_url
            out = str(tmp_path / api)
            summary = await replay(make_config(corpus_path, out, url, api=api),
                                   answerer=recorded_answerer, progress_mode="off")
            assert summary["counts"]["errors"] == 0
            contents[api] = _content(out)
        assert {r.api for r in server.requests} == {"openai-chat", "openai-responses",
                                                    "anthropic"}
    assert contents["openai-chat"] == contents["openai-responses"] == contents["anthropic"]

"""LLM routes answered from recorded responses: an agent's own loop (the `openai` SDK, plain
and streamed calls, plus the `mcp` client) replayed against the recorded model, so its tool
handling is tested deterministically, with no model at all."""

from __future__ import annotations

import openai
import pytest

from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.testing import RECORDED_SESSION, Recorded, recorded_corpus, weather_agent
from recorder.corpus import Corpus
from runtime.run_manifest import read_manifest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


@pytest.mark.parametrize("session", [RECORDED_SESSION, None])
async def test_agent_loop_replays_against_recorded_model(corpus: Recorded, tmp_path, session):
    run_out = str(tmp_path / "run")
    cfg = ServeConfig(corpus=[corpus.out], listen=("127.0.0.1", 0), isolation="thread",
                      run_out=run_out)
    async with await ReplayServer.load(cfg) as server:
        messages = await weather_agent(server.url, session=session)
    # the recorded model asked for get_weather(Paris), then forecast(Oslo), then reported
    calls = [c["function"]["name"] for m in messages if m["role"] == "assistant"
             for c in m.get("tool_calls", [])]
    assert calls == ["get_weather", "forecast"]
    assert messages[-1]["content"].startswith("Report: Sunny in Paris, 21 C")
    summary = server.result()
    assert summary["llm_calls"] == {"recorded": 3}
    assert summary["by_provenance"] == {"exact": 2}

    (s,) = [s for s in Corpus(run_out).sessions() if s.source.type == "replay"]
    assert s.source.source_session == session
    # the model's answers were recorded, the tool results were produced in this run
    assert {m.origin for m in s.messages if m.role == "assistant"} == {"recorded"}
    tools = [m for m in s.messages if m.role == "tool"]
    assert [m.origin for m in tools] == ["generated", "generated"]
    assert [m.result.provenance for m in tools if m.result] == ["exact", "exact"]
    assert read_manifest(run_out).model["llm_answers"] == "recorded"


async def test_unrecorded_model_call_is_a_clear_error(corpus: Recorded):
    cfg = ServeConfig(corpus=[corpus.out], listen=("127.0.0.1", 0), isolation="thread")
    async with await ReplayServer.load(cfg) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="sim-deployed", messages=[{"role": "user", "content": "Never recorded"}])
        await client.close()
    assert "no recorded openai_chat request" in str(caught.value)
    assert "--candidate" in str(caught.value)
    assert server.result()["misses_by_tool"] == {"llm:/": 1}

"""An unmodified OpenAI Agents SDK agent against `deploysim serve`: its MCP server is the
replay proxy, its model the scripted candidate reached through the proxy. The run must hold
the trajectory with tool calls and provenance; the same seed must give the same bytes; a
perturbing profile must reach the agent."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI

from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.run_capture import TRAJECTORIES
from proxy.replay.testing import Recorded, recorded_corpus, weather_policy
from recorder.corpus import Corpus
from recorder.reader import CassetteReader
from recorder.session import Session
from replayer.testing.fake_model import FakeModelServer
from runtime.canary import find_canaries
from runtime.run_manifest import read_manifest
from stubs.api import ToolQuery
from stubs.engine import StubEngine

set_tracing_disabled(True)

QUESTION = "What is the weather in Paris, and the forecast for Oslo?"
CALLS = [("get_weather", {"city": "Paris"}), ("forecast", {"city": "Oslo", "days": 2})]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


async def run_agent(corpus: Recorded, run_out: str, *, profile: str = "none",
                    seed: int = 0) -> tuple[str, list[Any]]:
    """One agent run through `deploysim serve`; (final output, what the model was sent)."""
    async with FakeModelServer(weather_policy()) as fake:
        cfg = ServeConfig(corpus=[corpus.out], listen=("127.0.0.1", 0), isolation="thread",
                          profile=profile, seed=seed, candidates=[fake.url], run_out=run_out)
        async with await ReplayServer.load(cfg) as server, MCPServerStreamableHttp(
                params={"url": server.url + "/weather"}, name="weather") as weather:
            client = AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-test-key-42")
            agent = Agent(name="forecaster", instructions="Answer weather questions.",
                          model=OpenAIResponsesModel("sim-candidate", client),
                          mcp_servers=[weather])
            result = await Runner.run(agent, QUESTION)
            await client.close()
        return str(result.final_output), list(fake.requests)


def trajectory(run_out: str) -> Session:
    (session,) = [s for s in Corpus(run_out).sessions() if s.source.type == "replay"]
    return session


def tool_texts(session: Session) -> list[str]:
    return [m.text for m in session.messages if m.role == "tool"]


async def test_agents_sdk_loop_runs_against_recorded_tools(corpus: Recorded, tmp_path):
    run_out = str(tmp_path / "run")
    final, requests = await run_agent(corpus, run_out)
    assert final.startswith("Report: Sunny in Paris, 21 C")
    assert len(requests) == 3 and requests[0].api == "openai-responses"

    s = trajectory(run_out)
    assert [(m.role, m.origin) for m in s.messages] == [
        ("system", "recorded"), ("user", "recorded"),
        ("assistant", "generated"), ("tool", "generated"),
        ("assistant", "generated"), ("tool", "generated"), ("assistant", "generated")]
    calls = [(c.name, c.arguments) for m in s.messages for c in m.tool_calls]
    assert calls == CALLS
    results = [m.result for m in s.messages if m.role == "tool"]
    assert [r.provenance for r in results if r is not None] == ["exact", "exact"]
    assert all(r is not None and r.exchange_id for r in results)
    assert tool_texts(s)[0] == "Sunny in Paris, 21 C"
    assert s.source.type == "replay" and s.messages[-1].text == final

    manifest = read_manifest(run_out)
    assert manifest.kind == "serve" and manifest.mode == "proxy"
    assert manifest.counts["trajectories"] == 1 and manifest.counts["turns"] == 1
    assert manifest.counts["tool_calls"] == 2
    assert manifest.provenance == {"exact": 2}
    assert manifest.corpus_hash == Corpus(corpus.out).content_hash()
    assert manifest.model["candidates"]["/"].startswith("http://127.0.0.1:")


def probe(corpus: Recorded, seed: int) -> list[str]:
    """What the hostile profile does to the agent's two calls at `seed` (provenance each):
    the agent names no session and opens no MCP session, so its calls count in the `*`
    trajectory, call indices 0 and 1."""
    engine = StubEngine.from_corpus(corpus.out, seed=seed, profile="hostile", fallbacks=())

    async def ask() -> list[str]:
        out = []
        for i, (name, args) in enumerate(CALLS):
            a = await engine.answer(ToolQuery(kind="mcp", name=name, arguments=args,
                                              server="weather", call_index=i,
                                              trajectory_id="*"))
            out.append(a.provenance)
        return out

    return asyncio.run(ask())


@pytest.fixture(scope="module")
def seeds(corpus: Recorded) -> tuple[int, int]:
    """A seed at which `hostile` injects an instruction, and one at which it does otherwise."""
    found = {}
    for seed in range(100):
        found[seed] = probe(corpus, seed)
        inject = next((s for s, p in found.items() if any("inject" in x for x in p)), None)
        if inject is not None:
            other = next((s for s, p in found.items() if p != found[inject]), None)
            if other is not None:
                return inject, other
    raise AssertionError(f"no seed under 100 makes `hostile` inject: {found}")


def frames(run_out: str) -> list[bytes]:
    """The trajectory records exactly as stored (the header, which holds a timestamp, aside)."""
    reader = CassetteReader(os.path.join(run_out, TRAJECTORIES))
    return [payload for _, payload in reader.iter_payloads()][1:]


async def test_same_seed_same_bytes_other_seed_other_results(corpus: Recorded, seeds, tmp_path):
    inject, other = seeds
    a, b, c = (str(tmp_path / n) for n in "abc")
    final_a, _ = await run_agent(corpus, a, profile="hostile", seed=inject)
    final_b, _ = await run_agent(corpus, b, profile="hostile", seed=inject)
    final_c, _ = await run_agent(corpus, c, profile="hostile", seed=other)
    assert frames(a) == frames(b) and frames(a)
    assert final_a == final_b
    assert tool_texts(trajectory(a)) != tool_texts(trajectory(c))
    assert final_a != final_c


async def test_hostile_profile_reaches_the_agent(corpus: Recorded, seeds, tmp_path):
    inject, _ = seeds
    run_out = str(tmp_path / "hostile")
    final, requests = await run_agent(corpus, run_out, profile="hostile", seed=inject)
    s = trajectory(run_out)
    injected = [m for m in s.messages if m.role == "tool" and m.result is not None
                and "perturbed:inject" in (m.result.provenance or "")]
    assert injected, [m.result for m in s.messages if m.role == "tool"]
    (token,) = find_canaries(injected[0].text)
    # the model was sent the injected instruction, and the agent's answer carries it on
    seen = " ".join(m.text for m in requests[-1].messages if m.role == "tool")
    assert token in seen and token in final
    assert read_manifest(run_out).profile["name"] == "hostile"

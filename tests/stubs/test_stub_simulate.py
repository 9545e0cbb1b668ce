"""The simulate layer against a fake model server speaking OpenAI Chat Completions.

The model client here is a tiny `recorder.llm.ModelClient` on the official `openai` SDK; the
server is the replayer's scripted fake model (loopback, ephemeral port).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest

from recorder.llm import ModelClient
from recorder.response_cache import ResponseCache
from recorder.session import ContentPart, Message, ToolDef
from replayer.testing.fake_model import FakeModelServer, ScriptedError, ScriptedReply
from replayer.testing.script import ScriptedRequest
from stubs.api import ToolQuery
from stubs.engine import StubEngine
from stubs.testing import function_call

MARK = "Now return the output of this call of `"


class ChatClient:
    """A minimal ModelClient: OpenAI Chat Completions through the official SDK."""

    def __init__(self, base_url: str, model: str = "sim-tool-simulator") -> None:
        self.model = model
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key="sim", max_retries=0)

    async def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolDef] = (),
                       params: Mapping[str, Any] | None = None) -> Message:
        p = dict(params or {})
        resp = await self._client.chat.completions.create(
            model=self.model, messages=[{"role": m.role, "content": m.text}  # type: ignore[misc]
                                        for m in messages],
            temperature=p.get("temperature"), seed=p.get("seed"))
        return Message(role="assistant",
                       content=[ContentPart(text=resp.choices[0].message.content or "")])

    async def close(self) -> None:
        await self._client.close()


def tool_world(request: ScriptedRequest) -> ScriptedReply:
    """Plays get_weather: reads the call from the prompt, answers in the recorded format."""
    text = request.last_user_text
    if "FAIL" in text:
        return ScriptedReply(error=ScriptedError("server"))
    args = json.loads(text.split(MARK, 1)[1].split(":\n", 1)[1]) if MARK in text else {}
    seed = request.params.get("seed")
    return ScriptedReply(text="```json\n" + json.dumps(
        {"city": args.get("city", "?"), "temp": 10 + (seed or 0), "conditions": "windy"})
        + "\n```")


CALLS = [function_call("get_weather", {"city": "Paris"}, {"city": "Paris", "temp": 21,
                                                          "conditions": "sunny"}, session="s1"),
         function_call("get_weather", {"city": "Rome"}, {"city": "Rome", "temp": 25,
                                                         "conditions": "sunny"}, session="s1")]


@pytest.fixture
async def server() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(tool_world) as s:
        yield s


def q(city: str, i: int = 0, session: str = "s1", name: str = "get_weather") -> ToolQuery:
    return ToolQuery(kind="function", name=name, arguments={"city": city}, session_id=session,
                     call_index=i, trajectory_id=session)


async def test_simulated_answers_are_cached_by_prompt_and_seed(server: FakeModelServer,
                                                               tmp_path: Path) -> None:
    client = ChatClient(server.openai_url)
    assert isinstance(client, ModelClient)
    cache = ResponseCache(str(tmp_path / "sim.sqlite"))
    e = StubEngine.from_calls(CALLS, fallbacks=("simulate",), simulator=client, cache=cache,
                              seed=1)
    a = await e.answer(q("Berlin"))
    assert a.provenance == "simulated"
    assert json.loads(a.result.content) == {"city": "Berlin", "temp": 11, "conditions": "windy"}
    assert a.diagnostics["simulated"]["model"] == "sim-tool-simulator"
    prompt = server.requests[0]
    assert "Recorded calls of `get_weather`" in prompt.last_user_text
    assert '{"city": "Paris"}' in prompt.last_user_text  # recorded examples are shown
    assert prompt.messages[0].role == "system" and "get_weather" in prompt.messages[0].text
    assert len(server.requests) == 1
    # a fresh engine on the same cache: identical answer, no model call
    again = StubEngine.from_calls(CALLS, fallbacks=("simulate",), simulator=client,
                                  cache=cache, seed=1)
    b = await again.answer(q("Berlin", i=5))
    assert b.result.content == a.result.content and len(server.requests) == 1
    # another seed is another prompt
    other = StubEngine.from_calls(CALLS, fallbacks=("simulate",), simulator=client,
                                  cache=cache, seed=2)
    c = await other.answer(q("Berlin"))
    assert json.loads(c.result.content)["temp"] == 12 and len(server.requests) == 2
    assert e.describe()["simulator"]["model"] == "sim-tool-simulator"
    await client.close()
    cache.close()


async def test_concurrent_identical_calls_share_one_model_call(server: FakeModelServer) -> None:
    client = ChatClient(server.openai_url)
    e = StubEngine.from_calls(CALLS, fallbacks=("simulate",), simulator=client)
    answers = await asyncio.gather(*(e.answer(q("Oslo", i=i)) for i in range(6)))
    assert {a.result.content for a in answers} == {answers[0].result.content}
    assert len(server.requests) == 1
    await client.close()


async def test_layers_order_and_failure_falls_through(server: FakeModelServer) -> None:
    client = ChatClient(server.openai_url)
    e = StubEngine.from_calls(CALLS, fallbacks=("nearest", "simulate"), simulator=client)
    assert (await e.answer(q("Pariss"))).provenance == "nearest"  # before the model
    assert len(server.requests) == 0
    a = await e.answer(q("FAIL"))  # the model errors: the call is a miss, not a crash
    assert a.provenance == "miss" and e.layers.failures
    # a tool the corpus never saw: the model still plays it, in plain form
    a = await e.answer(ToolQuery(kind="mcp", server="x", name="get_weather_v2",
                                 arguments={"city": "Lima"}))
    assert a.provenance == "simulated" and a.mcp_result is not None
    assert json.loads(a.mcp_result["content"][0]["text"])["city"] == "Lima"
    await client.close()


async def test_the_prompt_does_not_depend_on_the_cassette_order(server: FakeModelServer) -> None:
    # the examples shown to the simulator are chosen in content order: the same recordings
    # interleaved differently by the cassette give the same prompt (and so the same cached
    # answer)
    calls = [function_call("get_weather", {"city": c}, {"city": c, "temp": t}, session=s)
             for c, t, s in (("Paris", 21, "s1"), ("Rome", 25, "s2"), ("Oslo", 3, "s1"),
                             ("Lima", 19, "s3"), ("Kyiv", 8, "s2"), ("Rome", 26, "s3"))]
    client = ChatClient(server.openai_url)
    for order in (calls, calls[::-1], calls[3:] + calls[:3]):
        e = StubEngine.from_calls(order, fallbacks=("simulate",), simulator=client, seed=1)
        assert (await e.answer(q("Berlin"))).provenance == "simulated"
    first, *others = [r.last_user_text for r in server.requests]
    assert len(others) == 2 and all(text == first for text in others)
    assert first.count("- call ") == 3  # three recorded examples, whichever came first
    await client.close()

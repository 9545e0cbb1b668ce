"""The simulate layer against a fake model server speaking OpenAI Chat Completions.

The model client here is a tiny `runtime.model_client.ModelClient` on the official `openai` SDK; the
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

from recorder.session import ContentPart, Message, ToolDef
from replayer.testing.fake_model import FakeModelServer, ScriptedError, ScriptedReply
from replayer.testing.script import ScriptedRequest
from runtime.model_client import ModelClient
from runtime.response_cache import ResponseCache
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


HISTORY = "Calls this trajectory already made, oldest first, and what they returned:\n"
ALIKE = "Recorded calls of `{name}` like this one and what it returned:\n"


def _section(text: str, header: str) -> str:
    """One part of the prompt's user message (parts are separated by blank lines)."""
    if header not in text:
        return ""
    return text.split(header, 1)[1].split("\n\n", 1)[0]


def stateful_files(request: ScriptedRequest) -> ScriptedReply:
    """Plays read_file with state: returns what this trajectory wrote to the path earlier (as
    the prompt's history shows it), else a not-found error."""
    text = request.last_user_text
    args = json.loads(text.split(MARK, 1)[1].split(":\n", 1)[1])
    for line in _section(text, HISTORY).splitlines():
        if line.startswith("- `write_file` "):
            written = json.loads(line.removeprefix("- `write_file` "))
            if written["path"] == args["path"]:
                return ScriptedReply(text=written["content"])
    return ScriptedReply(text=f"Error: ENOENT: no such file or directory, open '{args['path']}'")


FILES = [
    function_call("write_file", {"path": "/w/notes/plan.md", "content": "ship on Friday"},
                  "Successfully wrote to /w/notes/plan.md", session="rec1"),
    function_call("read_file", {"path": "/w/notes/todo.md"}, "- rotate keys", session="rec1"),
    function_call("list_directory", {"path": "/w/notes"}, "[FILE] todo.md", session="rec1"),
]


def file_query(name: str, args: dict[str, Any], i: int, trajectory: str) -> ToolQuery:
    return ToolQuery(kind="function", name=name, arguments=args, call_index=i,
                     trajectory_id=trajectory)


async def test_the_simulator_is_shown_the_trajectorys_earlier_calls_and_keeps_state() -> None:
    async with FakeModelServer(stateful_files) as server:
        client = ChatClient(server.openai_url)
        e = StubEngine.from_calls(FILES, fallbacks=("simulate",), simulator=client)
        plan = {"path": "/w/notes/plan.md"}
        steps = [("list_directory", {"path": "/w/notes"}),                  # exact
                 ("write_file", {**plan, "content": "ship on Friday"}),       # exact
                 ("read_file", plan)]                                         # simulated
        answers = [await e.answer(file_query(n, a, i, "t1")) for i, (n, a) in enumerate(steps)]
        assert [a.provenance for a in answers] == ["exact", "exact", "simulated"]
        assert answers[2].result.content == "ship on Friday"  # the model's answer is used
        history = _section(server.requests[0].last_user_text, HISTORY)
        assert history.splitlines() == [
            '- `list_directory` {"path": "/w/notes"}', "  output: [FILE] todo.md",
            '- `write_file` {"content": "ship on Friday", "path": "/w/notes/plan.md"}',
            "  output: Successfully wrote to /w/notes/plan.md"]
        # another trajectory never wrote the file: its history is its own (empty)
        other = await e.answer(file_query("read_file", plan, 0, "t2"))
        assert other.provenance == "simulated" and "ENOENT" in other.result.content
        assert HISTORY not in server.requests[1].last_user_text
        # a finished trajectory is forgotten
        e.forget("t1")
        assert e.layers.history is not None and e.layers.history.before(
            file_query("read_file", plan, 9, "t1")) == []
        await client.close()


async def test_the_history_is_bounded_and_keeps_the_latest_calls() -> None:
    async with FakeModelServer(stateful_files) as server:
        client = ChatClient(server.openai_url)
        e = StubEngine.from_calls(FILES, fallbacks=("simulate",), simulator=client)
        for i in range(40):
            await e.answer(file_query("list_directory", {"path": "/w/notes"}, i, "t1"))
        await e.answer(file_query("write_file", {"path": "/w/x.md", "content": "x"}, 40, "t1"))
        await e.answer(file_query("read_file", {"path": "/w/x.md"}, 41, "t1"))
        history = _section(server.requests[-1].last_user_text, HISTORY).splitlines()
        assert 2 < len(history) // 2 <= 16  # bounded, however long the trajectory
        assert history[-2].startswith("- `write_file` ")  # the latest call is kept
        await client.close()


SHELL = [function_call("run_shell", {"command": f"pytest -q tests/test_{m}.py"},
                       f"5 passed in 0.{i}1s", session="rec1")
         for i, m in enumerate(["api", "db", "cli", "auth", "jobs", "ui"])] + [
    function_call("run_shell", {"command": "rm -rf build"}, "", session="rec2"),
    function_call("run_shell", {"command": "rm -rf dist/"}, "", session="rec2")]


async def test_the_simulator_is_shown_recorded_calls_of_the_same_family() -> None:
    async with FakeModelServer(lambda request: ScriptedReply(text="(no output)")) as server:
        client = ChatClient(server.openai_url)
        e = StubEngine.from_calls(SHELL, fallbacks=("simulate",), simulator=client)
        a = await e.answer(ToolQuery(kind="function", name="run_shell",
                                     arguments={"command": "rm -rf node_modules"}))
        assert a.provenance == "simulated" and a.result.content == "(no output)"
        text = server.requests[0].last_user_text
        alike = _section(text, ALIKE.format(name="run_shell"))
        assert "rm -rf build" in alike and "rm -rf dist/" in alike and "pytest" not in alike
        # the rest of the examples are another program's, shown for the format only
        others = _section(text, "Other recorded calls of `run_shell`")
        assert others.count("- call ") == 1 and "pytest" in others
        # a pytest call is shown pytest examples, and no rm
        await e.answer(ToolQuery(kind="function", name="run_shell",
                                 arguments={"command": "pytest -q tests/test_models.py"}))
        alike = _section(server.requests[1].last_user_text, ALIKE.format(name="run_shell"))
        assert alike.count("- call ") == 3 and "rm -rf" not in alike
        await client.close()

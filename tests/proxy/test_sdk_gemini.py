"""The official `google-genai` SDK through `deploysim record` (byte-identical requests upstream,
the same answers back, sessions derived with their function calls, streamed and not, over both
of the SDK's HTTP stacks) and through `deploysim serve` (the recorded answers come back)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from proxy_helpers import tapped_model_server

from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.testing import RawRequest, gateway, records
from replayer.testing.fake_model import ScriptedCall, ScriptedReply, ScriptedRequest

KEY = "AIzaSyD-test-gemini-key-0123456789abcdef"
TOOLS = [types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]})])]
CONFIG = types.GenerateContentConfig(system_instruction="Answer briefly.", tools=TOOLS,
                                     temperature=0.0)


def weather_model(req: ScriptedRequest) -> ScriptedReply:
    """Calls get_weather, then reports the result it was given."""
    last = req.last
    if last is not None and last.role == "tool":
        return ScriptedReply(text=f"Report: {last.text}", thinking="The tool answered.")
    return ScriptedReply(text="Checking.", calls=[ScriptedCall("get_weather", {"city": "Paris"})])


def client(url: str, *, session: str | None = None) -> genai.Client:
    headers = {"X-Deploysim-Session": session} if session else {}
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(
        base_url=url, headers=headers, retry_options=types.HttpRetryOptions(attempts=1)))


async def agent(c: genai.Client, stream: bool) -> list[Any]:
    """A two-step function-calling loop; what the SDK handed back at each step."""
    contents: list[types.Content] = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
    seen: list[Any] = []
    for _ in range(2):
        if stream:
            chunks = [ch async for ch in await c.aio.models.generate_content_stream(
                model="sim-deployed", contents=contents, config=CONFIG)]
            parts = [p for ch in chunks for p in ch.candidates[0].content.parts]
            finish = chunks[-1].candidates[0].finish_reason
            seen.append(len(chunks))  # a stream comes back as a stream, chunk for chunk
        else:
            r = await c.aio.models.generate_content(model="sim-deployed", contents=contents,
                                                    config=CONFIG)
            parts, finish = r.candidates[0].content.parts, r.candidates[0].finish_reason
        seen.append(("".join(p.text for p in parts if p.text and p.thought),
                     "".join(p.text for p in parts if p.text and not p.thought),
                     [(f.id, f.name, f.args) for p in parts if (f := p.function_call)], finish))
        contents.append(types.Content(role="model", parts=parts))
        calls = [p.function_call for p in parts if p.function_call]
        if not calls:
            break
        contents.append(types.Content(role="user", parts=[types.Part(
            function_response=types.FunctionResponse(id=f.id, name=f.name,
                                                     response={"result": "Sunny, 21 C"}))
            for f in calls]))
    return seen


async def record(tmp_path: Any, stream: bool, seen: list[RawRequest]) -> tuple[Any, Any, Any]:
    async with tapped_model_server(seen, weather_model) as up, \
            gateway([up.url], str(tmp_path)) as gw:
        want = await agent(client(up.url), stream)
        got = await agent(client(gw.url, session="sess-gemini"), stream)
        exchanges = await gw.close()
    return want, got, (exchanges, records(gw.sink.paths), up.url)


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_sdk_through_gateway_is_byte_identical(tmp_path, stream):
    seen: list[RawRequest] = []
    want, got, (recorded, recs, up_url) = await record(tmp_path, stream, seen)
    assert got == want
    (_, _, calls, _), (thought, text, _, finish) = [w for w in want if isinstance(w, tuple)]
    assert not stream or next(w for w in want if isinstance(w, int)) > 1
    assert calls[0][1:] == ("get_weather", {"city": "Paris"}) and finish == "STOP"
    assert (thought, text) == ("The tool answered.", "Report: Sunny, 21 C")
    # everything end to end but the session header the proxied client adds
    direct, proxied = seen[:2], seen[2:]
    assert [r.comparable()[:2] for r in proxied] == [r.comparable()[:2] for r in direct]
    assert [r.body for r in proxied] == [r.body for r in direct]
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    assert [ex.request.url for ex in recorded] == [
        f"{up_url}/v1/models/sim-deployed:{method}"] * 2
    assert all((ex.response is not None and ex.response.chunks is not None) == stream
               for ex in recorded)
    assert KEY not in str([ex.request.headers for ex in recorded])  # x-goog-api-key redacted

    session, = [r for r in recs if r.kind == "session"]
    assert session.id == "sess-gemini"
    assert [m.role for m in session.messages] == ["system", "user", "assistant", "tool",
                                                  "assistant"]
    call, = session.messages[2].tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    tool = session.messages[3]
    assert tool.tool_call_id == call.id and tool.name == "get_weather"
    assert tool.result is not None and tool.result.content == "Sunny, 21 C"
    assert session.messages[4].text == "Report: Sunny, 21 C"
    assert session.messages[4].usage["promptTokenCount"] > 0


async def test_sync_sdk_over_httpx2_records_the_same(tmp_path):
    seen: list[RawRequest] = []
    async with tapped_model_server(seen, weather_model) as up, \
            gateway([up.url], str(tmp_path)) as gw:
        def call(url: str) -> Any:
            c = client(url)  # held: a collected Client closes its HTTP client
            r = c.models.generate_content(model="models/sim-deployed",
                                          contents="Weather in Paris?", config=CONFIG)
            return r.function_calls[0].name, r.function_calls[0].args

        want = await asyncio.to_thread(call, up.url)
        got = await asyncio.to_thread(call, gw.url)
        recorded = await gw.close()
    assert got == want == ("get_weather", {"city": "Paris"})
    assert seen[1].comparable() == seen[0].comparable()
    ex, = recorded
    assert ex.request.url.endswith("/v1/models/sim-deployed:generateContent")


@pytest.mark.parametrize("stream", [False, True])
async def test_serve_answers_the_sdk_from_recorded_gemini_calls(tmp_path, stream):
    seen: list[RawRequest] = []
    want, _, _ = await record(tmp_path / "rec", stream, seen)
    cfg = ServeConfig(corpus=[str(tmp_path / "rec")], listen=("127.0.0.1", 0),
                      isolation="thread")
    async with await ReplayServer.load(cfg) as server:
        got = await agent(client(server.url), stream)
        # a stream recorded answers a plain request with what it added up to
        other = await agent(client(server.url), not stream) if stream else None
        c = client(server.url)
        with pytest.raises(genai_errors.ClientError) as caught:
            await c.aio.models.generate_content(
                model="sim-deployed", contents="Never recorded", config=CONFIG)
    assert got == want
    if other is not None:
        assert other == [w for w in want if isinstance(w, tuple)]
    assert caught.value.code == 400 and "--candidate" in str(caught.value.message)
    assert server.result()["llm_calls"]["recorded"] == (4 if stream else 2)

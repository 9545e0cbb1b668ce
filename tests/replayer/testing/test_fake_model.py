"""The scripted fake model server, driven by the official openai and anthropic SDKs."""

from __future__ import annotations

import json
import subprocess
import sys

import aiohttp
import anthropic
import openai
import pytest

from replayer.testing.fake_model import (
    SIMULATION,
    FakeModelServer,
    RuleAgent,
    ScriptedCall,
    ScriptedReply,
    ScriptedRequest,
    call_first_tool,
    context_limit,
    echo,
    fail_first,
    scripted,
    serve_in_thread,
)

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather",
                                                "description": "weather for a city",
                                                "parameters": WEATHER}}]
RESP_TOOLS = [{"type": "function", "name": "get_weather", "description": "weather for a city",
               "parameters": WEATHER}]
ANT_TOOLS = [{"name": "get_weather", "description": "weather for a city",
              "input_schema": WEATHER}]
LONG_ARGS = {"city": "Paris, Île-de-France, a rather long name to split across chunks"}


def _weather(request: ScriptedRequest) -> ScriptedReply:
    if request.last is not None and request.last.role == "tool":
        return ScriptedReply(text="It is sunny in Paris, says the tool " * 3)
    return ScriptedReply(text="Let me check.", calls=[ScriptedCall("get_weather", LONG_ARGS)])


@pytest.fixture
async def server():
    async with FakeModelServer(_weather, chunk=5) as s:
        yield s


def _oai(server: FakeModelServer, **kw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.openai_url, api_key="sim", max_retries=0, **kw)


def _ant(server: FakeModelServer, **kw) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.url, api_key="sim", max_retries=0, **kw)


async def test_chat_non_stream_tool_call_and_request_log(server):
    client = _oai(server)
    resp = await client.chat.completions.create(
        model="sim-candidate", tools=CHAT_TOOLS,
        messages=[{"role": "system", "content": "be brief"},
                  {"role": "user", "content": "weather in Paris?"}])
    assert resp.system_fingerprint and "deploysim" in resp.system_fingerprint
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == LONG_ARGS
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    logged = server.requests[0]
    assert logged.api == "openai-chat" and logged.model == "sim-candidate"
    assert [m.role for m in logged.messages] == ["system", "user"]
    assert logged.tools[0].name == "get_weather" and logged.tools[0].input_schema == WEATHER
    # a second call carrying the tool result is decoded with the result linked to the call
    await client.chat.completions.create(
        model="sim-candidate", tools=CHAT_TOOLS,
        messages=[{"role": "user", "content": "weather in Paris?"},
                  choice.message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    tool_msg = server.requests[1].messages[-1]
    assert tool_msg.role == "tool" and tool_msg.name == "get_weather"
    assert tool_msg.text == "sunny" and tool_msg.tool_call_id == call.id
    await client.close()


async def test_chat_stream_splits_tool_arguments_and_reports_usage(server):
    client = _oai(server)
    stream = await client.chat.completions.create(
        model="sim-candidate", tools=CHAT_TOOLS, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "weather in Paris?"}])
    chunks = [c async for c in stream]
    arg_deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert arg_deltas[0].id and arg_deltas[0].function.name == "get_weather"
    assert all(d.id is None for d in arg_deltas[1:])
    assert len(arg_deltas) > 3  # the arguments really are split across chunks
    assert json.loads("".join(d.function.arguments for d in arg_deltas)) == LONG_ARGS
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    # the SDK's own accumulator agrees
    async with client.chat.completions.stream(
            model="sim-candidate", tools=CHAT_TOOLS,
            messages=[{"role": "user", "content": "weather?"}]) as s:
        final = await s.get_final_completion()
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments) == LONG_ARGS
    await client.close()


async def test_responses_non_stream_and_strict_stream(server):
    client = _oai(server)
    resp = await client.responses.create(model="sim-candidate", tools=RESP_TOOLS,
                                         instructions="be brief", input="weather in Paris?")
    calls = [o for o in resp.output if o.type == "function_call"]
    assert resp.output_text == "Let me check."
    assert json.loads(calls[0].arguments) == LONG_ARGS
    assert resp.usage.input_tokens_details.cache_write_tokens == 0
    assert server.requests[0].messages[0].role == "system"
    async with client.responses.stream(model="sim-candidate", tools=RESP_TOOLS,
                                       input="weather in Paris?") as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert kinds.index("response.content_part.added") < kinds.index("response.output_text.delta")
    assert kinds.count("response.function_call_arguments.delta") > 3
    fc = next(o for o in final.output if o.type == "function_call")
    assert json.loads(fc.arguments) == LONG_ARGS and final.output_text == "Let me check."
    # a follow-up with the function output decodes into a tool message
    await client.responses.create(model="sim-candidate", tools=RESP_TOOLS, input=[
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "call_id": fc.call_id, "name": fc.name,
         "arguments": fc.arguments},
        {"type": "function_call_output", "call_id": fc.call_id, "output": "sunny"}])
    last = server.requests[-1].messages
    assert [m.role for m in last] == ["user", "assistant", "tool"]
    assert last[2].name == "get_weather" and last[2].text == "sunny"
    await client.close()


async def test_anthropic_non_stream_and_stream(server):
    client = _ant(server)
    msg = await client.messages.create(model="sim-candidate", max_tokens=100, tools=ANT_TOOLS,
                                       system="be brief",
                                       messages=[{"role": "user", "content": "weather?"}])
    assert msg.stop_reason == "tool_use"
    use = next(b for b in msg.content if b.type == "tool_use")
    assert use.input == LONG_ARGS and use.id.startswith("toolu_")
    async with client.messages.stream(model="sim-candidate", max_tokens=100, tools=ANT_TOOLS,
                                      messages=[{"role": "user", "content": "weather?"}]) as s:
        kinds = [event.type async for event in s]
        final = await s.get_final_message()
    assert kinds[0] == "message_start" and "input_json" in kinds
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == LONG_ARGS and final.usage.output_tokens > 0
    await client.messages.create(model="sim-candidate", max_tokens=100, tools=ANT_TOOLS, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "sunny"}]}])
    roles = [m.role for m in server.requests[-1].messages]
    assert roles == ["user", "assistant", "tool"]
    assert server.requests[-1].messages[2].name == "get_weather"
    await client.close()


async def test_error_knobs_speak_each_providers_error_format():
    policy = fail_first(echo, 1, kind="rate_limit", retry_after=0.25)
    async with FakeModelServer(policy) as server:
        client = _oai(server)
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                       "content": "hi"}])
        assert info.value.response.headers["retry-after"] == "0.25"
        ok = await client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                        "content": "hi"}])
        assert ok.choices[0].message.content == "echo: hi"
        await client.close()
    async with FakeModelServer(context_limit(echo, 5)) as server:
        with pytest.raises(openai.BadRequestError) as bad:
            await _oai(server).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x" * 400}])
        assert bad.value.code == "context_length_exceeded"
        with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
            await _ant(server).messages.create(model="m", max_tokens=10, messages=[
                {"role": "user", "content": "x" * 400}])
    async with FakeModelServer(echo, api_key="right") as server:
        with pytest.raises(anthropic.AuthenticationError):
            await _ant(server).messages.create(model="m", max_tokens=10,
                                               messages=[{"role": "user", "content": "hi"}])
        ok2 = await anthropic.AsyncAnthropic(base_url=server.url, api_key="right").messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        assert ok2.content[0].text == "echo: hi"


async def test_malformed_reply_breaks_the_sdk_parse():
    async with FakeModelServer(scripted([ScriptedReply(malformed=True)])) as server:
        with pytest.raises((openai.APIError, json.JSONDecodeError, ValueError)):
            await _oai(server).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])


async def test_ready_policies():
    async with FakeModelServer(call_first_tool) as server:
        r = await _oai(server).chat.completions.create(
            model="m", tools=CHAT_TOOLS, messages=[{"role": "user", "content": "Lyon"}])
        assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {"city": "Lyon"}
    agent = RuleAgent()
    async with FakeModelServer(agent) as server:
        r = await _oai(server).chat.completions.create(
            model="m", tools=CHAT_TOOLS, messages=[{"role": "user", "content": "any weather?"}])
        assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
        r = await _oai(server).chat.completions.create(
            model="m", tools=CHAT_TOOLS, messages=[{"role": "user", "content": "hello there"}])
        assert r.choices[0].message.tool_calls is None and r.choices[0].message.content


def test_serve_in_thread_for_sync_callers():
    with serve_in_thread(echo) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key="sim", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="sim-deployed", messages=[{"role": "user", "content": "ping"}])
        assert raw.headers["x-deploysim-simulation"] == SIMULATION
        assert raw.parse().choices[0].message.content == "echo: ping"
        assert [m.id for m in client.models.list().data] == ["sim-deployed", "sim-candidate"]


async def test_a_server_without_a_request_log_answers_the_same_and_keeps_nothing():
    async with FakeModelServer(_weather, log_requests=False) as quiet, \
            FakeModelServer(_weather) as logged:
        replies = []
        for s in (quiet, logged):
            resp = await _oai(s).chat.completions.create(
                model="sim-candidate", tools=CHAT_TOOLS,
                messages=[{"role": "user", "content": "weather in Paris?"}])
            replies.append(resp.model_dump(exclude={"created"}))
        assert replies[0] == replies[1]
        assert quiet.requests == [] and len(logged.requests) == 1


async def test_a_subclass_customising_the_aiohttp_app_is_served_by_it():
    from aiohttp import web

    seen: list[str] = []

    @web.middleware
    async def tap(request, handler):
        seen.append(request.path)
        return await handler(request)

    async def count(_request: web.Request) -> web.Response:
        return web.json_response({"seen": len(seen)})

    class Tapped(FakeModelServer):
        def app(self) -> web.Application:
            app = super().app()
            app.middlewares.append(tap)
            app.router.add_get("/_count", count)  # added after the catch-all, still served
            return app

    async with Tapped(_weather, chunk=5) as tapped, FakeModelServer(_weather, chunk=5) as lean:
        replies = []
        for s in (tapped, lean):
            client = _oai(s)
            plain = await client.chat.completions.create(
                model="sim-candidate", tools=CHAT_TOOLS,
                messages=[{"role": "user", "content": "weather in Paris?"}])
            stream = await client.chat.completions.create(
                model="sim-candidate", tools=CHAT_TOOLS, stream=True,
                messages=[{"role": "user", "content": "weather in Paris?"}])
            chunks = [c.model_dump(exclude={"created"}) async for c in stream]
            replies.append((plain.model_dump(exclude={"created"}), chunks))
            await client.close()
        assert replies[0] == replies[1]
        assert seen == ["/v1/chat/completions"] * 2
        async with aiohttp.ClientSession() as http:
            async with http.get(tapped.url + "/_count") as resp:
                assert await resp.json() == {"seen": 3}  # the tap saw this request too
            async with http.get(lean.url + "/_count") as resp:
                assert resp.status == 404
    async with Tapped(scripted([ScriptedReply(disconnect=True)])) as dropping:
        with pytest.raises(openai.APIConnectionError):
            await _oai(dropping).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])


def test_the_fake_model_from_a_shell_on_uvloop_serves_the_openai_sdk() -> None:
    """`python -m replayer.testing.fake_model` (as the benchmarks start it) runs on the CLI's
    loop (uvloop): a request, a stream and the model list through it, and a path it does not
    serve is refused."""
    proc = subprocess.Popen([sys.executable, "-m", "replayer.testing.fake_model", "--policy",
                             "rule-agent"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["openai_url"]
        client = openai.OpenAI(base_url=url, api_key="sim", max_retries=0)
        reply = client.chat.completions.create(
            model="sim-candidate", messages=[{"role": "user", "content": "hello there"}])
        assert reply.choices[0].message.content
        chunks = list(client.chat.completions.create(
            model="sim-candidate", stream=True,
            messages=[{"role": "user", "content": "hello there"}]))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
            reply.choices[0].message.content
        assert [m.id for m in client.models.list().data] == ["sim-deployed", "sim-candidate"]
        with pytest.raises(openai.NotFoundError):
            client.get("/nowhere", cast_to=object)
        with pytest.raises(openai.APIStatusError) as refused:
            client.get("/chat/completions", cast_to=object)
        assert refused.value.status_code == 405
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)

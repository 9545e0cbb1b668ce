"""The official `openai` SDK through the gateway: the upstream gets the very bytes the SDK
sends directly, and the SDK gets the same answers (chat and responses, streamed and not,
with tool calls)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from proxy_helpers import sdk_call, tapped_model_server

from proxy.testing import TOOLS_CHAT, TOOLS_RESPONSES, RawRequest, gateway, records
from recorder.exchange import Exchange
from replayer.testing.fake_model import call_first_tool

HEADERS = {"X-Deploysim-Session": "sess-openai", "X-Deploysim-Segment": "enterprise"}


async def _chat(client: openai.AsyncOpenAI, stream: bool) -> Any:
    kw: Any = {"model": "sim-deployed", "tools": TOOLS_CHAT, "extra_headers": HEADERS,
               "messages": [{"role": "user", "content": "weather in Paris?"}]}
    if not stream:
        r = await client.chat.completions.create(**kw)
        call = r.choices[0].message.tool_calls[0]
        return (call.function.name, call.function.arguments, r.choices[0].finish_reason)
    name, args, finish = "", "", None
    stream_ = await client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kw)
    async for chunk in stream_:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                name += tc.function.name or "" if tc.function else ""
                args += tc.function.arguments or "" if tc.function else ""
            finish = choice.finish_reason or finish
    return (name, args, finish)


async def _responses(client: openai.AsyncOpenAI, stream: bool) -> Any:
    kw: Any = {"model": "sim-deployed", "tools": TOOLS_RESPONSES, "input": "weather in Paris?",
               "extra_headers": HEADERS}
    r = await sdk_call(client.responses, stream, "get_final_response", **kw)
    calls = [(o.name, o.arguments) for o in r.output if o.type == "function_call"]
    return (calls, r.status)


@pytest.mark.parametrize(("api", "stream"), [("chat", False), ("chat", True),
                                              ("responses", False), ("responses", True)])
async def test_openai_sdk_through_gateway_is_byte_identical(tmp_path, api, stream):
    seen: list[RawRequest] = []
    call = _chat if api == "chat" else _responses
    async with tapped_model_server(seen, call_first_tool) as up, \
            gateway([up.url], str(tmp_path)) as gw:
        direct = openai.AsyncOpenAI(base_url=up.url + "/v1", api_key="sk-test-key-123",
                                    max_retries=0)
        proxied = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-test-key-123",
                                     max_retries=0)
        want = await call(direct, stream)
        got = await call(proxied, stream)
        await direct.close()
        await proxied.close()
        recorded = await gw.close()
    assert got == want
    assert "get_weather" in str(got)
    a, b = seen
    assert b.comparable() == a.comparable()

    ex: Exchange = recorded[0]
    assert len(recorded) == 1
    assert ex.request.url == up.url + ("/v1/chat/completions" if api == "chat"
                                       else "/v1/responses")
    assert ex.session_hint == "sess-openai" and ex.labels["segment"] == "enterprise"
    assert ex.response is not None and ex.response.status == 200
    assert (ex.response.chunks is not None) == stream
    assert b"get_weather" in ex.response.body
    assert "sk-test-key-123" not in str(ex.request.headers)

    # on a clean close the derived session was appended, threaded by the session header
    session, = [r for r in records(gw.sink.paths) if r.kind == "session"]
    assert session.id == "sess-openai" and session.labels.get("segment") == "enterprise"
    calls = [c.name for m in session.messages for c in m.tool_calls]
    assert calls == ["get_weather"]

"""The official `anthropic` SDK through the gateway: byte-identical requests upstream, the
same answers back, streamed and not, with tool use."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from proxy_helpers import sdk_call, tapped_model_server

from proxy.testing import TOOLS_ANTHROPIC, RawRequest, gateway, records
from replayer.testing.fake_model import call_first_tool

TOOLS = TOOLS_ANTHROPIC


async def _messages(client: anthropic.AsyncAnthropic, stream: bool) -> Any:
    kw: Any = {"model": "sim-deployed", "max_tokens": 256, "tools": TOOLS,
               "messages": [{"role": "user", "content": "weather in Paris?"}],
               "extra_headers": {"X-Deploysim-Session": "sess-anthropic"}}
    m = await sdk_call(client.messages, stream, "get_final_message", **kw)
    return ([(b.name, b.input) for b in m.content if b.type == "tool_use"], m.stop_reason)


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_sdk_through_gateway_is_byte_identical(tmp_path, stream):
    seen: list[RawRequest] = []
    async with tapped_model_server(seen, call_first_tool) as up, \
            gateway([up.url], str(tmp_path)) as gw:
        direct = anthropic.AsyncAnthropic(base_url=up.url, api_key="sk-ant-test-1",
                                          max_retries=0)
        proxied = anthropic.AsyncAnthropic(base_url=gw.url, api_key="sk-ant-test-1",
                                           max_retries=0)
        want = await _messages(direct, stream)
        got = await _messages(proxied, stream)
        await direct.close()
        await proxied.close()
        recorded = await gw.close()
    assert got == want and want[0][0][0] == "get_weather" and want[1] == "tool_use"
    a, b = seen
    assert b.comparable() == a.comparable()
    ex, = recorded
    assert ex.request.url == up.url + "/v1/messages"
    assert ex.session_hint == "sess-anthropic"
    assert ex.response is not None and (ex.response.chunks is not None) == stream
    # both header styles the SDK sends are redacted before the disk
    assert "sk-ant-test-1" not in str(ex.request.headers)
    session, = [r for r in records(gw.sink.paths) if r.kind == "session"]
    assert session.id == "sess-anthropic"
    assert [c.name for m in session.messages for c in m.tool_calls] == ["get_weather"]

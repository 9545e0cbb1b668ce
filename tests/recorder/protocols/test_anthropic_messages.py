"""Anthropic Messages: the official SDK against a fake upstream; the captured bytes parse to
what `get_final_message()` returns (thinking, text, parallel tool_use with split JSON input)."""

from __future__ import annotations

import json
from typing import Any

from anthropic import AsyncAnthropic
from hypothesis import given, settings
from hypothesis import strategies as st
from recorder_helpers import FakeUpstream, Reply

from recorder.protocols import parse_exchange
from recorder.protocols.anthropic_messages import STOP_REASONS
from recorder.testing import make_exchange, sse_events

BLOCKS: list[dict[str, Any]] = [
    {"type": "thinking", "thinking": "The user wants two forecasts.", "signature": "sig-abc"},
    {"type": "text", "text": "Checking both cities."},
    {"type": "tool_use", "id": "toolu_1", "name": "forecast", "input": {"city": "Paris"}},
    {"type": "tool_use", "id": "toolu_2", "name": "forecast",
     "input": {"city": "Rome", "days": [1, 2]}},
]
TOOLS = [{"name": "forecast", "description": "Forecast.",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def message(blocks: list[dict[str, Any]], stop: str = "tool_use") -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 40,
                      "cache_read_input_tokens": 3}}


def stream(blocks: list[dict[str, Any]]) -> bytes:
    start = message([], None)  # type: ignore[arg-type]
    start["usage"] = {"input_tokens": 25, "output_tokens": 1}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start},
                                    {"type": "ping"}]
    for i, b in enumerate(blocks):
        if b["type"] == "thinking":
            events.append({"type": "content_block_start", "index": i,
                           "content_block": {"type": "thinking", "thinking": "",
                                             "signature": ""}})
            for j in range(0, len(b["thinking"]), 6):
                events.append({"type": "content_block_delta", "index": i, "delta": {
                    "type": "thinking_delta", "thinking": b["thinking"][j:j + 6]}})
            events.append({"type": "content_block_delta", "index": i, "delta": {
                "type": "signature_delta", "signature": b["signature"]}})
        elif b["type"] == "text":
            events.append({"type": "content_block_start", "index": i,
                           "content_block": {"type": "text", "text": ""}})
            for j in range(0, len(b["text"]), 4):
                events.append({"type": "content_block_delta", "index": i, "delta": {
                    "type": "text_delta", "text": b["text"][j:j + 4]}})
        else:
            events.append({"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}})
            raw = json.dumps(b["input"])
            for j in range(0, len(raw), 5):
                events.append({"type": "content_block_delta", "index": i, "delta": {
                    "type": "input_json_delta", "partial_json": raw[j:j + 5]}})
        events.append({"type": "content_block_stop", "index": i})
    events.append({"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                      "stop_sequence": None},
                   "usage": {"output_tokens": 40, "cache_read_input_tokens": 3}})
    events.append({"type": "message_stop"})
    return sse_events(events, named=True)


def client(upstream: FakeUpstream) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=upstream.url, api_key="sk-ant-test-key-for-fake", max_retries=0)


def sdk_view(msg: Any) -> dict[str, Any]:
    blocks = []
    for b in msg.content:
        if b.type == "thinking":
            blocks.append(("thinking", b.thinking, b.signature))
        elif b.type == "text":
            blocks.append(("text", b.text))
        elif b.type == "tool_use":
            blocks.append(("tool_use", b.id, b.name, b.input))
    # the session model spells stop reasons as OpenAI does (`tool_use` is `tool_calls`)
    return {"blocks": blocks, "stop": STOP_REASONS[msg.stop_reason or ""],
            "usage": (msg.usage.input_tokens, msg.usage.output_tokens)}


def our_view(exchange: Any) -> dict[str, Any]:
    parsed = parse_exchange(exchange)
    assert parsed.problems == [] and parsed.llm is not None
    [out] = parsed.llm.outputs
    blocks: list[tuple[Any, ...]] = []
    for p in out.content:
        if p.type == "thinking":
            blocks.append(("thinking", p.text, p.data["signature"]))
        elif p.type == "text":
            blocks.append(("text", p.text))
    blocks.extend(("tool_use", c.id, c.name, c.arguments) for c in out.tool_calls)
    return {"blocks": blocks, "stop": out.finish_reason,
            "usage": (out.usage["input_tokens"], out.usage["output_tokens"])}


MESSAGES: list[Any] = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                      {"type": "tool_use", "id": "toolu_0", "name": "forecast",
                                       "input": {"city": "Oslo"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0",
                                  "content": [{"type": "text", "text": "snow"}],
                                  "is_error": False},
                                 {"type": "text", "text": "Now Paris and Rome."}]},
]


async def test_non_streamed_tool_use(upstream: FakeUpstream) -> None:
    upstream.script = lambda req: Reply(json_body=message(BLOCKS))
    msg = await client(upstream).messages.create(model="claude-test", max_tokens=500,
                                                 system="be brief", messages=MESSAGES,
                                                 tools=TOOLS)  # type: ignore[arg-type]
    assert our_view(upstream.exchanges[-1]) == sdk_view(msg)
    parsed = parse_exchange(upstream.exchanges[-1])
    assert parsed.llm is not None
    roles = [m.role for m in parsed.llm.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    tool = parsed.llm.messages[3]
    assert tool.name == "forecast" and tool.result is not None and tool.result.content == "snow"
    headers = {k.lower() for k, _ in upstream.exchanges[-1].request.headers}
    assert "anthropic-version" in headers


async def test_streamed_blocks_match_get_final_message(upstream: FakeUpstream) -> None:
    data = stream(BLOCKS)
    upstream.script = lambda req: Reply(chunks=[data[i:i + 150] for i in range(0, len(data), 150)])
    async with client(upstream).messages.stream(model="claude-test", max_tokens=500,
                                                messages=MESSAGES,
                                                tools=TOOLS) as s:  # type: ignore[arg-type]
        final = await s.get_final_message()
    assert our_view(upstream.exchanges[-1]) == sdk_view(final)
    parsed = parse_exchange(upstream.exchanges[-1])
    assert parsed.llm is not None and parsed.llm.outputs[0].text == "Checking both cities."


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=80), max_size=30))
def test_any_chunking_reassembles_identically(cuts: list[int]) -> None:
    data = stream(BLOCKS)
    pieces, pos = [], 0
    for c in cuts:
        pieces.append(data[pos:pos + c])
        pos += c
    pieces.append(data[pos:])
    req = {"model": "m", "max_tokens": 5, "messages": [], "stream": True}
    one = parse_exchange(make_exchange("https://x/v1/messages", request_json=req, chunks=[data]))
    many = parse_exchange(make_exchange("https://x/v1/messages", request_json=req,
                                        chunks=pieces))
    assert one.llm is not None and many.llm is not None
    assert many.llm.outputs == one.llm.outputs and many.problems == one.problems == []


def test_stream_problems() -> None:
    req = {"model": "m", "max_tokens": 5, "messages": [], "stream": True}
    data = stream(BLOCKS)
    cut = parse_exchange(make_exchange("https://x/v1/messages", request_json=req,
                                       chunks=[data[: len(data) * 2 // 3]]))
    assert any("truncated" in p for p in cut.problems)
    odd = data.replace(b'"type": "ping"', b'"type": "pong"')
    weird = parse_exchange(make_exchange("https://x/v1/messages", request_json=req,
                                         chunks=[odd]))
    assert any("unknown type 'pong'" in p for p in weird.problems)
    assert weird.llm is not None and weird.llm.outputs[0].tool_calls
    failed = parse_exchange(make_exchange("https://x/v1/messages", request_json=req, chunks=[
        sse_events([{"type": "error", "error": {"type": "overloaded_error",
                                                "message": "Overloaded"}}], named=True)]))
    assert failed.llm is not None and failed.llm.error == "stream error: Overloaded"

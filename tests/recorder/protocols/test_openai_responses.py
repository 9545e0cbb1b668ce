"""OpenAI Responses API: the official SDK (strict about event order) against a fake upstream;
captured bytes parse to what `get_final_response()` returns; items map to messages."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI
from recorder_helpers import FakeUpstream, Reply

from recorder.protocols import parse_exchange
from recorder.testing import make_exchange, sse_events

USAGE = {"input_tokens": 30, "output_tokens": 12, "total_tokens": 42,
         "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
         "output_tokens_details": {"reasoning_tokens": 5}}
TOOLS = [{"type": "function", "name": "forecast", "description": "Forecast.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def response_obj(output: list[dict[str, Any]], status: str = "completed",
                 rid: str = "resp_1") -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": 1700000000, "status": status,
            "model": "gpt-test", "output": output, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": TOOLS, "usage": USAGE if status == "completed"
            else None, "error": None, "incomplete_details": None, "instructions": None,
            "metadata": {}, "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}}}


OUTPUT = [
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text",
                                                     "text": "Need the forecast."}]},
    {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
     "content": [{"type": "output_text", "text": "Let me check Paris and Rome.",
                  "annotations": []}]},
    {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "forecast",
     "arguments": '{"city": "Paris"}', "status": "completed"},
    {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "forecast",
     "arguments": '{"city": "Rome"}', "status": "completed"},
]


def stream_events(output: list[dict[str, Any]], rid: str = "resp_1") -> list[dict[str, Any]]:
    """A strict, complete event sequence for a response with these output items."""
    seq = iter(range(10_000))
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": next(seq), **fields})

    emit("response.created", response=response_obj([], "in_progress", rid))
    emit("response.in_progress", response=response_obj([], "in_progress", rid))
    for i, item in enumerate(output):
        if item["type"] == "message":
            emit("response.output_item.added", output_index=i,
                 item={**item, "status": "in_progress", "content": []})
            part = item["content"][0]
            emit("response.content_part.added", item_id=item["id"], output_index=i,
                 content_index=0, part={**part, "text": ""})
            text = part["text"]
            for j in range(0, len(text), 5):
                emit("response.output_text.delta", item_id=item["id"], output_index=i,
                     content_index=0, delta=text[j:j + 5], logprobs=[])
            emit("response.output_text.done", item_id=item["id"], output_index=i,
                 content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", item_id=item["id"], output_index=i,
                 content_index=0, part=part)
        elif item["type"] == "function_call":
            emit("response.output_item.added", output_index=i,
                 item={**item, "arguments": "", "status": "in_progress"})
            args = item["arguments"]
            for j in range(0, len(args), 3):
                emit("response.function_call_arguments.delta", item_id=item["id"],
                     output_index=i, delta=args[j:j + 3])
            emit("response.function_call_arguments.done", item_id=item["id"], output_index=i,
                 arguments=args)
        else:
            emit("response.output_item.added", output_index=i, item=item)
        emit("response.output_item.done", output_index=i, item=item)
    emit("response.completed", response=response_obj(output, "completed", rid))
    return events


def client(upstream: FakeUpstream) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=upstream.url + "/v1", api_key="sk-test-key-for-the-fake-upstream",
                       max_retries=0)


def sdk_view(response: Any) -> dict[str, Any]:
    text = "".join(c.text for item in response.output if item.type == "message"
                   for c in item.content if c.type == "output_text")
    calls = [(i.call_id, i.name, i.arguments) for i in response.output
             if i.type == "function_call"]
    thinking = [s.text for i in response.output if i.type == "reasoning" for s in i.summary]
    return {"id": response.id, "text": text, "calls": calls, "thinking": thinking,
            "usage": (response.usage.input_tokens, response.usage.output_tokens)}


def our_view(exchange: Any) -> dict[str, Any]:
    parsed = parse_exchange(exchange)
    assert parsed.problems == [] and parsed.llm is not None
    [out] = parsed.llm.outputs
    return {"id": parsed.llm.response_id,
            "text": "".join(p.text for p in out.content if p.type == "text"),
            "calls": [(c.id, c.name, c.arguments_raw) for c in out.tool_calls],
            "thinking": [p.text for p in out.content if p.type == "thinking"],
            "usage": (out.usage["input_tokens"], out.usage["output_tokens"])}


async def test_non_streamed_function_calls(upstream: FakeUpstream) -> None:
    upstream.script = lambda req: Reply(json_body=response_obj(OUTPUT))
    response = await client(upstream).responses.create(
        model="gpt-test", instructions="be brief", input="Weather in Paris and Rome?",
        tools=TOOLS)  # type: ignore[arg-type]
    assert our_view(upstream.exchanges[-1]) == sdk_view(response)
    parsed = parse_exchange(upstream.exchanges[-1])
    assert parsed.llm is not None
    assert [m.role for m in parsed.llm.messages] == ["system", "user"]
    assert parsed.llm.outputs[0].finish_reason == "tool_calls"


async def test_streamed_events_match_get_final_response(upstream: FakeUpstream) -> None:
    data = sse_events(stream_events(OUTPUT), named=True)
    upstream.script = lambda req: Reply(chunks=[data[i:i + 211] for i in range(0, len(data), 211)])
    async with client(upstream).responses.stream(
            model="gpt-test", input="Weather in Paris and Rome?",
            tools=TOOLS) as stream:  # type: ignore[arg-type]
        final = await stream.get_final_response()
    assert our_view(upstream.exchanges[-1]) == sdk_view(final)


async def test_completed_without_output_uses_done_items(upstream: FakeUpstream) -> None:
    events = stream_events(OUTPUT[1:2])
    events[-1]["response"]["output"] = None  # the SDK then recovers items from .done events
    upstream.script = lambda req: Reply(chunks=[sse_events(events, named=True)])
    async with client(upstream).responses.stream(model="gpt-test", input="hi") as stream:
        final = await stream.get_final_response()
    assert our_view(upstream.exchanges[-1]) == sdk_view(final)


def test_input_items_become_messages() -> None:
    req = {"model": "m", "previous_response_id": "resp_0", "input": [
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                     {"type": "input_image", "image_url": "https://i"}]},
        *copy.deepcopy(OUTPUT),
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": "rain"},
    ]}
    parsed = parse_exchange(make_exchange("https://x/v1/responses", request_json=req,
                                          response_json=response_obj([])))
    assert parsed.llm is not None and parsed.llm.previous_response_id == "resp_0"
    roles = [m.role for m in parsed.llm.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    step = parsed.llm.messages[2]
    assert [p.type for p in step.content] == ["thinking", "text"]
    assert [c.id for c in step.tool_calls] == ["call_1", "call_2"]
    assert [m.name for m in parsed.llm.messages[3:]] == ["forecast", "forecast"]


def test_truncated_and_unknown_events_are_problems() -> None:
    events = stream_events(OUTPUT[1:])
    cut = sse_events([*events[:-3], {"type": "response.mystery", "sequence_number": 99}],
                     named=True)
    parsed = parse_exchange(make_exchange("https://x/v1/responses",
                                          request_json={"model": "m", "input": "hi",
                                                        "stream": True},
                                          chunks=[cut]))
    assert any("truncated" in p for p in parsed.problems)
    assert any("unknown type 'response.mystery'" in p for p in parsed.problems)
    assert parsed.llm is not None and parsed.llm.outputs  # rebuilt from what arrived
    assert parsed.llm.outputs[0].text == "Let me check Paris and Rome."
    assert parsed.llm.outputs[0].tool_calls[0].arguments == {"city": "Paris"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=120), max_size=30))
def test_any_chunking_reassembles_identically(cuts: list[int]) -> None:
    data = sse_events(stream_events(OUTPUT), named=True)
    pieces, pos = [], 0
    for c in cuts:
        pieces.append(data[pos:pos + c])
        pos += c
    pieces.append(data[pos:])
    req = {"model": "m", "input": "hi", "stream": True}
    one = parse_exchange(make_exchange("https://x/v1/responses", request_json=req,
                                       chunks=[data]))
    many = parse_exchange(make_exchange("https://x/v1/responses", request_json=req,
                                        chunks=pieces))
    assert one.llm is not None and many.llm is not None
    assert many.llm.outputs == one.llm.outputs and many.problems == one.problems == []

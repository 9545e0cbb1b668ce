"""OpenAI Chat Completions: the official SDK against a fake upstream; the captured bytes must
parse to exactly what the SDK itself made of them (non-streamed, streamed, parallel tool calls,
n>1, refusals), whatever the chunking."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI
from recorder_helpers import FakeUpstream, Reply

from recorder.protocols import parse_exchange, with_parse_problems
from recorder.protocols.parsed import LlmCall
from recorder.testing import make_exchange, sse_events

TOOLS = [{"type": "function", "function": {
    "name": name, "description": f"{name} tool",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    for name in ("forecast", "alerts")]
MESSAGES: list[Any] = [{"role": "system", "content": "be brief"},
                       {"role": "user", "content": "Weather in Paris and Rome?"}]


def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-test", "system_fingerprint": "fp_1", "choices": choices, **extra}


def tool_call_stream() -> bytes:
    """Two parallel tool calls, arguments split into fragments, then a usage chunk."""
    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": None},
                      "finish_reason": None}])]
    for i, (name, args) in enumerate((("forecast", '{"city": "Paris"}'),
                                      ("alerts", '{"city": "Rome", "days": 3}'))):
        events.append(chunk([{"index": 0, "delta": {"tool_calls": [{
            "index": i, "id": f"call_{i}", "type": "function",
            "function": {"name": name, "arguments": ""}}]}, "finish_reason": None}]))
        for j in range(0, len(args), 4):
            events.append(chunk([{"index": 0, "delta": {"tool_calls": [{
                "index": i, "function": {"arguments": args[j:j + 4]}}]},
                "finish_reason": None}]))
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]))
    events.append(chunk([], usage={"prompt_tokens": 20, "completion_tokens": 9,
                                   "total_tokens": 29,
                                   "prompt_tokens_details": {"cached_tokens": 4}}))
    return sse_events(events, done=True)


def two_choice_stream() -> bytes:
    """n=2: choice 0 answers in text, choice 1 refuses; deltas interleave."""
    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                      "finish_reason": None},
                     {"index": 1, "delta": {"role": "assistant", "refusal": ""},
                      "finish_reason": None}])]
    for word in ("It ", "is ", "sunny ", "in ", "Paris."):
        events.append(chunk([{"index": 0, "delta": {"content": word}, "finish_reason": None}]))
        events.append(chunk([{"index": 1, "delta": {"refusal": word.upper()},
                              "finish_reason": None}]))
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"},
                         {"index": 1, "delta": {}, "finish_reason": "content_filter"}]))
    return sse_events(events, done=True)


def client(upstream: FakeUpstream) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=upstream.url + "/v1", api_key="sk-test-key-for-the-fake-upstream",
                       max_retries=0)


def sdk_view(completion: Any) -> list[dict[str, Any]]:
    """What the SDK's (accumulated) completion says, per choice."""
    out = []
    for c in completion.choices:
        msg = c.message
        out.append({
            "text": msg.content or "", "refusal": msg.refusal or "",
            "calls": [(t.id, t.function.name, t.function.arguments) for t in msg.tool_calls or []],
            "finish": c.finish_reason})
    return out


def our_view(call: LlmCall) -> list[dict[str, Any]]:
    out = []
    for m in call.outputs:
        out.append({
            "text": "".join(p.text for p in m.content if p.type == "text"),
            "refusal": "".join(p.text for p in m.content if p.type == "refusal"),
            "calls": [(c.id, c.name, c.arguments_raw) for c in m.tool_calls],
            "finish": m.finish_reason})
    return out


def sdk_usage(completion: Any) -> dict[str, int]:
    u = completion.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens}


async def test_non_streamed_parallel_tool_calls(upstream: FakeUpstream) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function",
         "function": {"name": "forecast", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "type": "function",
         "function": {"name": "alerts", "arguments": '{"city": "Rome"}'}}]}
    upstream.script = lambda req: Reply(json_body={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
    completion = await client(upstream).chat.completions.create(
        model="gpt-test", messages=MESSAGES, tools=TOOLS, temperature=0.2)
    parsed = parse_exchange(upstream.exchanges[-1])
    assert parsed.protocol == "openai_chat" and parsed.problems == []
    assert parsed.llm is not None
    assert our_view(parsed.llm) == sdk_view(completion)
    out = parsed.llm.outputs[0]
    assert out.usage == sdk_usage(completion)
    assert [c.arguments for c in out.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert parsed.llm.model == "gpt-test" and parsed.llm.params["temperature"] == 0.2
    assert [t.name for t in parsed.llm.tools] == ["forecast", "alerts"]
    assert [m.role for m in parsed.llm.messages] == ["system", "user"]


async def test_streamed_tool_calls_match_sdk_accumulation(upstream: FakeUpstream) -> None:
    upstream.script = lambda req: Reply(chunks=[tool_call_stream()[i:i + 97] for i in
                                                range(0, len(tool_call_stream()), 97)])
    async with client(upstream).chat.completions.stream(
            model="gpt-test", messages=MESSAGES, tools=TOOLS,
            stream_options={"include_usage": True}) as stream:
        final = await stream.get_final_completion()
    parsed = parse_exchange(upstream.exchanges[-1])
    assert parsed.problems == [] and parsed.llm is not None and parsed.llm.stream
    assert our_view(parsed.llm) == sdk_view(final)
    assert parsed.llm.outputs[0].usage["total_tokens"] == sdk_usage(final)["total_tokens"]
    assert parsed.llm.outputs[0].usage["prompt_tokens_details.cached_tokens"] == 4
    assert parsed.llm.native is not None
    assert parsed.llm.native["system_fingerprint"] == final.system_fingerprint


async def test_streamed_n2_with_refusal_match_sdk(upstream: FakeUpstream) -> None:
    upstream.script = lambda req: Reply(chunks=[two_choice_stream()])
    stream = await client(upstream).chat.completions.create(
        model="gpt-test", messages=MESSAGES, n=2, stream=True)
    chunks = [c async for c in stream]
    parsed = parse_exchange(upstream.exchanges[-1])
    assert parsed.llm is not None and len(parsed.llm.outputs) == 2
    assert len(chunks) == 12
    view = our_view(parsed.llm)
    assert view[0] == {"text": "It is sunny in Paris.", "refusal": "", "calls": [],
                       "finish": "stop"}
    assert view[1]["refusal"] == "IT IS SUNNY IN PARIS." and view[1]["finish"] == "content_filter"
    # the same bytes through the SDK's own stream accumulator
    upstream.script = lambda req: Reply(chunks=[two_choice_stream()])
    async with client(upstream).chat.completions.stream(
            model="gpt-test", messages=MESSAGES, n=2) as s:
        async for _ in s:
            pass
        snapshot = s.current_completion_snapshot
    assert our_view(parsed.llm) == sdk_view(snapshot)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), max_size=40))
def test_any_chunking_reassembles_identically(cuts: list[int]) -> None:
    data = tool_call_stream() + b""
    reference = parse_exchange(make_exchange("https://x/v1/chat/completions",
                                             request_json={"model": "m", "messages": []},
                                             chunks=[data]))
    pieces, pos = [], 0
    for c in cuts:
        pieces.append(data[pos:pos + c])
        pos += c
    pieces.append(data[pos:])
    parsed = parse_exchange(make_exchange("https://x/v1/chat/completions",
                                          request_json={"model": "m", "messages": []},
                                          chunks=pieces))
    assert parsed.llm is not None and reference.llm is not None
    assert parsed.llm.outputs == reference.llm.outputs
    assert parsed.llm.native == reference.llm.native and parsed.problems == []


def test_request_messages_normalised() -> None:
    req = {"model": "m", "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "rules"}]},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "https://i"}}]},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                              "function": {"name": "f",
                                                                           "arguments": "{bad"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]}]}
    parsed = parse_exchange(make_exchange("https://x/v1/chat/completions", request_json=req,
                                          response_json={"choices": []}))
    assert parsed.llm is not None
    sys_, user, asst, tool = parsed.llm.messages
    assert sys_.role == "system" and sys_.text == "rules"
    assert [p.type for p in user.content] == ["text", "image"]
    assert asst.tool_calls[0].arguments == "{bad" and asst.tool_calls[0].arguments_raw == "{bad"
    assert tool.role == "tool" and tool.name == "f" and tool.result is not None
    assert tool.result.content == "ok"


def test_errors_and_truncation_are_problems_not_exceptions() -> None:
    url = "https://x/v1/chat/completions"
    req = {"model": "m", "messages": [], "stream": True}
    full = tool_call_stream()
    cut_ex = make_exchange(url, request_json=req, chunks=[full[: len(full) // 2]])
    cut = parse_exchange(cut_ex)
    assert any("truncated" in p for p in cut.problems) and cut.llm is not None
    noted = with_parse_problems(cut_ex)
    assert noted.problems == cut.problems and noted.response == cut_ex.response
    assert with_parse_problems(noted) == noted
    bad = parse_exchange(make_exchange(url, request_body=b"{nope"))
    assert bad.llm is None and any("not valid JSON" in p for p in bad.problems)
    err = parse_exchange(make_exchange(url, request_json=req, status=429, response_json={
        "error": {"message": "Rate limit reached", "type": "rate_limit"}}))
    assert err.llm is not None and err.llm.error == "HTTP 429: Rate limit reached"
    assert err.llm.outputs == []
    junk = parse_exchange(make_exchange(url, request_json=req, chunks=[
        b"data: {\"choices\": 5}\n\n", b"data: \xff\xfe\n\n", b"data: [DONE]\n\n"]))
    assert junk.problems and junk.llm is not None
    stream_err = parse_exchange(make_exchange(url, request_json=req, chunks=[sse_events(
        [{"error": {"message": "overloaded"}}])]))
    assert stream_err.llm is not None and stream_err.llm.error == "stream error: overloaded"
    assert json.dumps(stream_err.problems)  # plain strings

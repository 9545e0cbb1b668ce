"""OpenAI Chat Completions has one parser: the same response bytes read by a recording (the
protocol parser, streamed or not) and by a replay (the client's `decode_response`) are the
same messages, and the same request body read by a recording and by the fake model's
`decode_request` is the same conversation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from replay_helpers import WireFormat, pieces, served_reply, split

from recorder.protocols import parse_exchange
from recorder.protocols.openai_chat import request_call, token_counts
from recorder.session import ContentPart, Message
from recorder.testing import make_exchange
from replayer.wire import openai_chat

URL = "https://api.example/v1/chat/completions"
REQUEST: dict[str, Any] = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
UNKNOWN: dict[str, Any] = {"annotations": [], "audio": None, "provider_specific_fields": {"x": 1}}
"""Fields a message may carry that no parser reads (OpenAI's own, LiteLLM's)."""


# -- the two sides -------------------------------------------------------------------------

FORMAT = WireFormat(URL, REQUEST, token_counts)
recorded = FORMAT.recorded
as_replayed = FORMAT.as_replayed


def stream(completion: dict[str, Any], cuts: list[int]) -> list[bytes]:
    """`completion` as the SSE chunks a server streams: every string delivered in pieces cut
    at `cuts`, tool-call arguments fragmented after a first delta naming the call, choices
    interleaved, the finish reasons, then a usage chunk and `[DONE]`; the bytes split into
    network chunks at `cuts` too."""
    head = {k: v for k, v in completion.items() if k not in ("choices", "usage", "object")}
    per_choice: list[list[dict[str, Any]]] = []
    for choice in completion["choices"]:
        msg, i = choice["message"], choice["index"]
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None, **UNKNOWN}]
        for key in ("reasoning_content", "content", "refusal"):
            deltas += [{key: piece} for piece in pieces(msg.get(key), cuts)]
        for n, call in enumerate(msg.get("tool_calls") or []):
            fn = call["function"]
            first: dict[str, Any] = {"index": n, "type": "function",
                                     "function": {"name": fn["name"]}}
            if "id" in call:
                first["id"] = call["id"]
            if isinstance(fn["arguments"], str):
                first["function"]["arguments"] = ""
                deltas.append({"tool_calls": [first]})
                deltas += [{"tool_calls": [{"index": n, "function": {"arguments": piece}}]}
                           for piece in pieces(fn["arguments"], cuts)]
            else:  # an object: a server that sends one sends it whole
                first["function"]["arguments"] = fn["arguments"]
                deltas.append({"tool_calls": [first]})
        if "function_call" in msg:
            fc = msg["function_call"]
            deltas.append({"function_call": {"name": fc["name"], "arguments": ""}})
            deltas += [{"function_call": {"arguments": p}} for p in pieces(fc["arguments"], cuts)]
        events = [{"index": i, "delta": d, "finish_reason": None} for d in deltas]
        events.append({"index": i, "delta": {}, "finish_reason": choice["finish_reason"]})
        per_choice.append(events)
    chunks = []
    for step in range(max(len(e) for e in per_choice)):
        for events in per_choice:
            if step < len(events):
                chunks.append({**head, "object": "chat.completion.chunk",
                               "choices": [events[step]]})
    if "usage" in completion:
        chunks.append({**head, "object": "chat.completion.chunk", "choices": [],
                       "usage": completion["usage"]})
    data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return split(data.encode(), cuts, 7)


# -- responses, generated ------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_arguments = st.one_of(
    st.dictionaries(st.sampled_from(["city", "days", "q"]),
                    st.one_of(st.integers(-5, 5), _text), max_size=2).map(json.dumps),
    st.just(""), st.just('{"city": "Par'),  # empty, cut off by the output limit
    st.dictionaries(st.sampled_from(["city", "n"]), st.integers(0, 9), max_size=2),  # an object
)


@st.composite
def _tool_call(draw: st.DrawFn) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {
        "name": draw(st.sampled_from(["forecast", "alerts", "lookup"])),
        "arguments": draw(_arguments)}}
    if draw(st.booleans()):
        call["id"] = f"call_{draw(st.integers(0, 999))}"
    return call


@st.composite
def _choice(draw: st.DrawFn, index: int) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | _text), **UNKNOWN}
    if draw(st.booleans()):
        msg["reasoning_content"] = draw(_text)
    if draw(st.booleans()):
        msg["refusal"] = draw(_text)
    calls = draw(st.lists(_tool_call(), max_size=3))
    if calls:
        msg["tool_calls"] = calls
    if draw(st.booleans()):  # the legacy single call, never with an id
        msg["function_call"] = {"name": draw(st.sampled_from(["lookup", "forecast"])),
                                "arguments": draw(_arguments.filter(lambda a: isinstance(a, str)))}
    finish = draw(st.sampled_from(["stop", "length", "tool_calls", "function_call",
                                   "content_filter", "eos", "tool_call", None]))
    return {"index": index, "message": msg, "finish_reason": finish, "logprobs": None}


@st.composite
def completions(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    out: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                           "model": "gpt-test", "service_tier": "default",
                           "choices": [draw(_choice(i)) for i in range(n)]}
    if draw(st.booleans()):
        out["usage"] = {"prompt_tokens": draw(st.integers(0, 999)),
                        "completion_tokens": draw(st.integers(0, 99)),
                        "total_tokens": 0,
                        "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, 9))}}
    return out


@settings(max_examples=150, deadline=None)
@given(completions(), st.lists(st.integers(1, 9), max_size=12))
def test_recording_and_replay_read_the_same_bytes_as_the_same_messages(
        completion: dict[str, Any], cuts: list[int]) -> None:
    body = json.dumps(completion).encode()
    whole = recorded(completion)
    assert len(whole) == len(completion["choices"])
    # streamed, in any pieces: what the non-streamed response says
    assert recorded(chunks=stream(completion, cuts)) == whole
    # the replay's client reads the body with the same parser: the first choice
    replayed = openai_chat.decode_response(json.loads(body))
    assert replayed == as_replayed(whole[0], completion.get("usage"))


# -- responses, by hand: what each rule yields -------------------------------------------------

LEGACY: dict[str, Any] = {
    "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-3.5-turbo-0613",
    "choices": [{"index": 0, "finish_reason": "function_call", "message": {
        "role": "assistant", "content": None,
        "function_call": {"name": "lookup", "arguments": '{"order": 7}'}}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}
REFUSAL: dict[str, Any] = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
    "role": "assistant", "content": None, "refusal": "I can't help with that."}}]}
TWO_CHOICES: dict[str, Any] = {"choices": [
    {"index": 1, "finish_reason": None, "message": {"role": "assistant", "content": "second"}},
    {"index": 0, "finish_reason": "eos", "message": {
        "role": "assistant", "content": [{"type": "text", "text": "fir"},
                                         {"type": "text", "text": "st"}],
        "reasoning": "think", "future_field": {"a": 1}}}],
    "unknown_top_level": True}


def test_the_client_reads_legacy_refusal_and_multi_choice_replies_as_the_recording_does() -> None:
    for response in (LEGACY, REFUSAL, TWO_CHOICES):
        reply = asyncio.run(served_reply("openai-chat", "gpt-test", "/v1/chat/completions",
                                         "/v1", json.dumps(response).encode()))
        assert reply == as_replayed(recorded(response)[0], response.get("usage"))
    [legacy] = recorded(LEGACY)
    [call] = legacy.tool_calls
    assert (call.name, call.arguments, legacy.finish_reason) == ("lookup", {"order": 7},
                                                                 "tool_calls")
    assert legacy.usage["prompt_tokens"] == 12  # a recording keeps the provider's counts
    [refusal] = recorded(REFUSAL)
    assert [(p.type, p.text) for p in refusal.content] == [("refusal", "I can't help with that.")]
    first, second = recorded(TWO_CHOICES)
    assert [p.type for p in first.content] == ["thinking", "text", "text"]
    assert (first.text, first.finish_reason) == ("first", "stop")
    assert (second.text, second.finish_reason) == ("second", "stop")


def test_a_cut_stream_says_nothing_about_why_it_stopped() -> None:
    chunks = stream(TWO_CHOICES | {"choices": [{"index": 0, "finish_reason": None,
                                                "message": {"content": "partial"}}]}, [])
    cut = b"".join(chunks).replace(b"data: [DONE]\n\n", b"")
    parsed = parse_exchange(make_exchange(URL, request_json={**REQUEST, "stream": True},
                                          chunks=[cut]))
    assert parsed.llm is not None and any("truncated" in p for p in parsed.problems)
    [message] = parsed.llm.outputs
    assert message.text == "partial" and message.finish_reason is None


# -- requests ------------------------------------------------------------------------------

LEGACY_CONVERSATION: dict[str, Any] = {
    "model": "gpt-3.5-turbo-0613", "temperature": 0.2, "max_completion_tokens": 50,
    "function_call": "auto", "logit_bias": None, "x_unknown": 1,
    "functions": [{"name": "lookup", "description": "find an order",
                   "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}],
    "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "where is 7?"}]},
        LEGACY["choices"][0]["message"],
        {"role": "function", "name": "lookup", "content": "shipped"},
        {"role": "assistant", "content": None, "refusal": "no more"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]}]}


def test_a_request_reads_the_same_on_both_sides() -> None:
    messages, tools, params = openai_chat.decode_request(LEGACY_CONVERSATION)
    call = request_call(LEGACY_CONVERSATION)
    assert messages == [m.to_model() for m in call.messages] and tools == call.tools
    system, user, asked, answered, refused, called, result = messages
    assert system.role == "system" and user.name == "ann" and user.text == "where is 7?"
    assert [t.name for t in tools] == ["lookup"]  # legacy `functions`
    # the legacy call's id is the one its response got, and its `function` result links to it
    [response] = recorded(LEGACY)
    assert [c.id for c in asked.tool_calls] == [c.id for c in response.tool_calls]
    assert answered.role == "tool" and answered.tool_call_id == asked.tool_calls[0].id
    assert answered.result is not None and answered.result.content == "shipped"
    assert [p.type for p in refused.content] == ["refusal"]
    assert result.tool_call_id == "c1" and result.name == "lookup" == called.tool_calls[0].name
    # conversation keys are not parameters, the output limit has its portable name
    assert params == {"temperature": 0.2, "max_tokens": 50, "function_call": "auto",
                      "x_unknown": 1}


def test_an_encoded_request_reads_back_as_the_conversation_it_encodes() -> None:
    image = {"url": "https://img.example/a.png", "detail": "low"}
    conversation = [Message(role="system", content=[ContentPart(text="rules")]),
                    Message(role="user", content=[ContentPart(text="look"),
                                                  ContentPart(type="image", data=image)])]
    body = openai_chat.encode_request("m", conversation)
    assert body["messages"][1]["content"][1] == {"type": "image_url", "image_url": image}
    messages, _, _ = openai_chat.decode_request(body)
    assert messages == conversation


def test_an_image_recorded_by_any_api_is_sent_as_its_url() -> None:
    recorded_as = [  # Chat, Anthropic (URL, base64), Responses, Gemini, a plain URL
        ({"url": "https://i/a.png", "detail": "high"}, "https://i/a.png"),
        ({"type": "url", "url": "https://i/b.png"}, "https://i/b.png"),
        ({"type": "base64", "media_type": "image/jpeg", "data": "/9j/"},
         "data:image/jpeg;base64,/9j/"),
        ({"image_url": "https://i/c.png", "detail": "auto"}, "https://i/c.png"),
        ({"mimeType": "image/png", "data": "iVBOR"}, "data:image/png;base64,iVBOR"),
        ("https://i/d.png", "https://i/d.png")]
    for data, url in recorded_as:
        user = Message(role="user", content=[ContentPart(text="look"),
                                             ContentPart(type="image", data=data)])
        [sent] = openai_chat.encode_request("m", [user])["messages"]
        assert sent["content"][1]["image_url"]["url"] == url

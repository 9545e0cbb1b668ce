"""Anthropic Messages has one parser: the same response bytes read by a recording (the protocol
parser, streamed or not) and by a replay (the client's `decode_response`) are the same
messages, and a request body reads the same on both sides."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from replay_helpers import WireFormat, pieces, served_reply, split

from recorder.protocols.anthropic_messages import request_call, token_counts
from recorder.testing import sse_events
from replayer.wire import anthropic

URL = "https://api.anthropic.example/v1/messages"
REQUEST: dict[str, Any] = {"model": "claude-test", "max_tokens": 99,
                           "messages": [{"role": "user", "content": "hi"}]}


FORMAT = WireFormat(URL, REQUEST, token_counts)
recorded = FORMAT.recorded
as_replayed = FORMAT.as_replayed


def stream(message: dict[str, Any], cuts: list[int]) -> list[bytes]:
    """`message` as the events the API streams, every text, thinking and tool input in
    pieces cut at `cuts`; the bytes split at `cuts` too."""
    start = {k: v for k, v in message.items() if k not in ("content", "stop_reason")}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {
        **start, "content": [], "stop_reason": None}}]
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            events.append({"type": "content_block_start", "index": i,
                           "content_block": {"type": "text", "text": ""}})
            events += [{"type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": p}}
                       for p in pieces(block["text"], cuts)]
        elif kind == "thinking":
            events.append({"type": "content_block_start", "index": i, "content_block": {
                "type": "thinking", "thinking": "", "signature": ""}})
            events += [{"type": "content_block_delta", "index": i,
                        "delta": {"type": "thinking_delta", "thinking": p}}
                       for p in pieces(block["thinking"], cuts)]
            events.append({"type": "content_block_delta", "index": i, "delta": {
                "type": "signature_delta", "signature": block["signature"]}})
        elif kind == "tool_use":
            events.append({"type": "content_block_start", "index": i, "content_block": {
                **block, "input": {}}})
            events += [{"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": p}}
                       for p in pieces(json.dumps(block["input"]), cuts)]
        else:  # redacted thinking, server tools' blocks: sent whole
            events.append({"type": "content_block_start", "index": i, "content_block": block})
        events.append({"type": "content_block_stop", "index": i})
    events.append({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                                                      "stop_sequence": None},
                   "usage": {"output_tokens": message["usage"]["output_tokens"]}})
    events.append({"type": "message_stop"})
    return split(sse_events(events, named=True), cuts, 11)


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _text),
    st.builds(lambda t, s: {"type": "thinking", "thinking": t, "signature": s},
              _text, st.sampled_from(["sig1", "EqQBCgIYAh"])),
    st.just({"type": "redacted_thinking", "data": "EmwKAhgBEgy"}),
    st.builds(lambda n, args: {"type": "tool_use", "id": f"toolu_{n}", "name": "forecast",
                               "input": args},
              st.integers(0, 99), st.dictionaries(st.sampled_from(["city", "days"]),
                                                  st.one_of(st.integers(0, 9), _text),
                                                  max_size=2)),
    st.just({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
             "input": {"query": "rome"}}),
    st.just({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": draw(st.lists(_block, max_size=4)),
            "stop_reason": draw(st.sampled_from(["end_turn", "tool_use", "max_tokens",
                                                 "stop_sequence", "refusal", "pause_turn",
                                                 "model_context_window_exceeded"])),
            "stop_sequence": None,
            "usage": {"input_tokens": draw(st.integers(0, 999)),
                      "output_tokens": draw(st.integers(1, 99)),
                      "cache_read_input_tokens": draw(st.integers(0, 9)),
                      "cache_creation_input_tokens": 0}}


@settings(max_examples=120, deadline=None)
@given(messages(), st.lists(st.integers(1, 9), max_size=12))
def test_recording_and_replay_read_the_same_bytes_as_the_same_messages(
        message: dict[str, Any], cuts: list[int]) -> None:
    [whole] = recorded(message)
    assert recorded(chunks=stream(message, cuts)) == [whole]
    replayed = anthropic.decode_response(json.loads(json.dumps(message)))
    assert replayed == as_replayed(whole, message["usage"])


THINK_AND_CALL: dict[str, Any] = {
    "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-test",
    "content": [{"type": "thinking", "thinking": "look it up", "signature": "s1"},
                {"type": "redacted_thinking", "data": "Emw"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"order": 7}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 30, "output_tokens": 9, "cache_read_input_tokens": 4}}
CUT: dict[str, Any] = {**THINK_AND_CALL, "content": [{"type": "text", "text": "The order ship"}],
       "stop_reason": "max_tokens"}


def test_the_client_reads_thinking_calls_and_stop_reasons_as_the_recording_does() -> None:
    for response in (THINK_AND_CALL, CUT):
        reply = asyncio.run(served_reply("anthropic", "claude-test", "/v1/messages", "",
                                         json.dumps(response).encode()))
        assert reply == as_replayed(recorded(response)[0], response["usage"])
    [step] = recorded(THINK_AND_CALL)
    assert [(p.type, p.data) for p in step.content] == [
        ("thinking", {"signature": "s1"}), ("redacted_thinking", {"data": "Emw"}), ("text", None)]
    assert step.finish_reason == "tool_calls" and step.tool_calls[0].arguments == {"order": 7}
    assert step.usage["cache_read_input_tokens"] == 4  # a recording keeps Anthropic's counts
    assert recorded(CUT)[0].finish_reason == "length"


CONVERSATION: dict[str, Any] = {
    "model": "claude-test", "max_tokens": 200, "stop_sequences": ["END"], "top_k": 5,
    "system": [{"type": "text", "text": "be brief"}],
    "tools": [{"name": "lookup", "description": "find", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "where is 7?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBOR"}}]},
        {"role": "assistant", "content": THINK_AND_CALL["content"]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": [{"type": "text", "text": "timeout"}]},
            {"type": "text", "text": "try again"}]}]}


def test_a_request_reads_the_same_on_both_sides_and_encodes_back() -> None:
    messages, tools, params = anthropic.decode_request(CONVERSATION)
    assert messages == [m.to_model() for m in request_call(CONVERSATION).messages]
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "user"]
    system, user, step, result, again = messages
    assert system.text == "be brief" and again.text == "try again"
    assert [p.type for p in user.content] == ["text", "image"]
    assert step.content[0].data == {"signature": "s1"} and step.tool_calls[0].name == "lookup"
    assert result.name == "lookup" and result.result is not None and result.result.is_error
    assert params == {"max_tokens": 200, "stop": ["END"], "top_k": 5}
    assert [t.name for t in tools] == ["lookup"]
    # the recorded image goes back as the source it was
    body = anthropic.encode_request("claude-test", messages, tools, params)
    assert body["messages"][0]["content"][1] == CONVERSATION["messages"][0]["content"][1]

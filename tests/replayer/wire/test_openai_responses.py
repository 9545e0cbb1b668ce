"""The Responses API has one parser: the same response bytes read by a recording (the
protocol parser, streamed or not) and by a replay (the client's `decode_response`) are the
same messages, and a request body reads the same on both sides."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from replay_helpers import WireFormat, pieces, served_reply, split

from recorder.protocols.openai_responses import request_call, token_counts
from recorder.session import Message
from recorder.testing import sse_events
from replayer.wire import openai_responses

URL = "https://api.example/v1/responses"
REQUEST: dict[str, Any] = {"model": "gpt-test", "input": "hi"}


FORMAT = WireFormat(URL, REQUEST, token_counts)
recorded = FORMAT.recorded
as_replayed = FORMAT.as_replayed


def reply(body: dict[str, Any]) -> Message:
    return asyncio.run(served_reply("openai-responses", "gpt-test", "/v1/responses", "/v1",
                                    json.dumps(body).encode()))


def stream(response: dict[str, Any], cuts: list[int], output_on_completion: bool
           ) -> list[bytes]:
    """`response` as the events the API streams: each item added, its text or arguments in
    pieces, done; then the final event, with the output or (as some servers send it)
    without, when the done items are the output."""
    head = {k: v for k, v in response.items() if k not in ("output", "status", "usage")}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": {
        **head, "status": "in_progress", "output": []}}]
    for i, item in enumerate(response["output"]):
        if item["type"] == "message":
            events.append({"type": "response.output_item.added", "output_index": i,
                           "item": {**item, "content": []}})
            for j, part in enumerate(item["content"]):
                key = "text" if part["type"] == "output_text" else "refusal"
                events.append({"type": "response.content_part.added", "output_index": i,
                               "content_index": j, "part": {**part, key: ""}})
                delta = ("response.output_text.delta" if key == "text"
                         else "response.refusal.delta")
                events += [{"type": delta, "output_index": i, "content_index": j, "delta": p}
                           for p in pieces(part[key], cuts)]
        elif item["type"] == "function_call":
            events.append({"type": "response.output_item.added", "output_index": i,
                           "item": {**item, "arguments": ""}})
            events += [{"type": "response.function_call_arguments.delta", "output_index": i,
                        "delta": p} for p in pieces(item["arguments"], cuts)]
        else:
            events.append({"type": "response.output_item.added", "output_index": i,
                           "item": item})
        events.append({"type": "response.output_item.done", "output_index": i, "item": item})
    final = "response.incomplete" if response["status"] == "incomplete" else \
        "response.completed"
    events.append({"type": final, "response": {
        **response, "output": response["output"] if output_on_completion else None}})
    return split(sse_events(events, named=True), cuts, 17)


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_item = st.one_of(
    st.builds(lambda n, s, c: {"type": "reasoning", "id": f"rs_{n}", "summary": s, "content": c},
              st.integers(0, 9),
              st.lists(st.builds(lambda t: {"type": "summary_text", "text": t}, _text),
                       max_size=2),
              st.lists(st.builds(lambda t: {"type": "reasoning_text", "text": t}, _text),
                       max_size=1)),
    st.builds(lambda parts: {"type": "message", "id": "msg_1", "role": "assistant",
                             "status": "completed", "content": parts},
              st.lists(st.one_of(
                  st.builds(lambda t: {"type": "output_text", "text": t, "annotations": []},
                            _text),
                  st.builds(lambda t: {"type": "refusal", "refusal": t}, _text)),
                  min_size=1, max_size=2)),
    st.builds(lambda n, a: {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}",
                            "name": "lookup", "arguments": a, "status": "completed"},
              st.integers(0, 9), st.sampled_from(['{"order": 7}', "", '{"order": 7'])),
    st.just({"type": "web_search_call", "id": "ws_1", "status": "completed",
             "action": {"type": "search", "query": "rome"}}),
)


@st.composite
def responses(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["completed", "incomplete"]))
    reason = draw(st.sampled_from(["max_output_tokens", "content_filter"]))
    return {"id": "resp_1", "object": "response", "model": "gpt-test", "status": status,
            "incomplete_details": {"reason": reason} if status == "incomplete" else None,
            "output": draw(st.lists(_item, min_size=1, max_size=4)),
            "usage": {"input_tokens": draw(st.integers(0, 999)),
                      "output_tokens": draw(st.integers(0, 99)),
                      "input_tokens_details": {"cached_tokens": draw(st.integers(0, 9))},
                      "output_tokens_details": {"reasoning_tokens": 0}}}


@settings(max_examples=120, deadline=None)
@given(responses(), st.lists(st.integers(1, 9), max_size=12), st.booleans())
def test_recording_and_replay_read_the_same_bytes_as_the_same_messages(
        response: dict[str, Any], cuts: list[int], output_on_completion: bool) -> None:
    whole = recorded(response)
    assert recorded(chunks=stream(response, cuts, output_on_completion)) == whole
    replayed = openai_responses.decode_response(json.loads(json.dumps(response)))
    assert replayed == as_replayed(whole[0], response["usage"])


STEP: dict[str, Any] = {
    "id": "resp_2", "object": "response", "status": "incomplete",
    "incomplete_details": {"reason": "max_output_tokens"},
    "output": [{"type": "reasoning", "id": "rs_1", "summary": [
                   {"type": "summary_text", "text": "look"},
                   {"type": "summary_text", "text": "it up"}]},
               {"type": "function_call", "call_id": "call_1", "name": "lookup",
                "arguments": '{"order": 7'}],
    "usage": {"input_tokens": 30, "output_tokens": 64}}


def test_the_client_reads_a_cut_call_as_the_recording_does() -> None:
    [step] = recorded(STEP)
    assert reply(STEP) == as_replayed(step, STEP["usage"])
    assert step.finish_reason == "length"  # the output limit cut the call's arguments
    assert step.content[0].text == "look\nit up" and step.content[0].data == {"id": "rs_1"}
    assert step.tool_calls[0].arguments_raw == '{"order": 7'
    empty = reply({"status": "completed", "output": []})
    assert (empty.content, empty.tool_calls, empty.finish_reason) == ([], [], "stop")


CONVERSATION: dict[str, Any] = {
    "model": "gpt-test", "instructions": "be brief", "store": False,
    "reasoning": {"effort": "low"}, "max_output_tokens": 64, "temperature": 0.2,
    "tools": [{"type": "function", "name": "lookup", "description": "find",
               "parameters": {"type": "object"}}, {"type": "web_search"}],
    "input": [{"role": "user", "content": [
                  {"type": "input_text", "text": "where is 7?"},
                  {"type": "input_image", "image_url": "https://img.example/a.png",
                   "detail": "low"}]},
              *STEP["output"][:1],
              {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
              {"type": "function_call", "call_id": "call_1", "name": "lookup",
               "arguments": '{"order": 7}'},
              {"type": "function_call_output", "call_id": "call_1", "output": "shipped"},
              {"role": "developer", "content": "answer now"}]}


def test_a_request_reads_the_same_on_both_sides_and_encodes_back() -> None:
    messages, tools, params = openai_responses.decode_request(CONVERSATION)
    assert messages == [m.to_model() for m in request_call(CONVERSATION).messages]
    system, user, step, result, late = messages
    assert (system.text, late.role, late.text) == ("be brief", "system", "answer now")
    assert [p.type for p in step.content] == ["thinking", "text"]
    assert result.name == "lookup" and result.tool_call_id == step.tool_calls[0].id
    assert params == {"reasoning_effort": "low", "max_tokens": 64, "temperature": 0.2}
    assert [t.name for t in tools] == ["lookup", "web_search"]
    body = openai_responses.encode_request("gpt-test", [system, user], tools[:1], params)
    assert body["input"][0]["content"][1] == CONVERSATION["input"][0]["content"][1]

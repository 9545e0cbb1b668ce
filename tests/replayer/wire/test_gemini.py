"""Gemini has one parser: the same response bytes read by a recording (the protocol parser,
streamed or not) and by a replay (the client's `decode_response`) are the same messages, and
a request body reads the same on both sides."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from replay_helpers import WireFormat, pieces, served_reply, split

from recorder.protocols.gemini import request_call, token_counts
from recorder.testing import sse_events
from replayer.wire import gemini

BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-x"
REQUEST: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


FORMAT = WireFormat(BASE + ":generateContent", REQUEST, token_counts,
                    BASE + ":streamGenerateContent?alt=sse")
recorded = FORMAT.recorded
as_replayed = FORMAT.as_replayed


def stream(response: dict[str, Any], cuts: list[int]) -> list[bytes]:
    """`response` as the chunks of an `alt=sse` stream: text in pieces cut at `cuts` (the
    signature on the last piece), other parts whole, candidates interleaved, each finish
    reason in its candidate's last chunk, the usage in the last chunk."""
    per_candidate = []
    for cand in response["candidates"]:
        parts: list[dict[str, Any]] = []
        for p in cand["content"]["parts"]:
            if "text" in p:
                texts = [{"text": t, **({"thought": True} if p.get("thought") else {})}
                         for t in pieces(p["text"], cuts) or [""]]
                if "thoughtSignature" in p:
                    texts[-1]["thoughtSignature"] = p["thoughtSignature"]
                parts += texts
            else:
                parts.append(p)
        chunks = [{"index": cand["index"], "content": {"role": "model", "parts": [p]}}
                  for p in parts] or [{"index": cand["index"], "content": {"role": "model"}}]
        chunks[-1]["finishReason"] = cand["finishReason"]
        per_candidate.append(chunks)
    events = []
    for step in range(max(len(c) for c in per_candidate)):
        for chunks in per_candidate:
            if step < len(chunks):
                events.append({"candidates": [chunks[step]], "modelVersion": "gemini-x"})
    events[-1]["usageMetadata"] = response["usageMetadata"]
    return split(sse_events(events), cuts, 13)


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_part = st.one_of(
    st.builds(lambda t: {"text": t}, _text),
    st.builds(lambda t, s: {"text": t, "thought": True, **s}, _text,
              st.sampled_from([{}, {"thoughtSignature": "c2lnMQ=="}])),
    st.builds(lambda n, args, cid, sig: {"functionCall": {"name": n, "args": args, **cid},
                                         **sig},
              st.sampled_from(["lookup", "forecast"]),
              st.dictionaries(st.sampled_from(["city", "n"]), st.integers(0, 9), max_size=2),
              st.sampled_from([{}, {"id": "fc-1"}]),
              st.sampled_from([{}, {"thoughtSignature": "c2lnMg=="}])),
    st.just({"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}),
    st.just({"executableCode": {"language": "PYTHON", "code": "print(1)"}}),
)


def _joined(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent text parts of one kind as one: a stream cannot tell them apart."""
    out: list[dict[str, Any]] = []
    for p in parts:
        last = out[-1] if out else None
        if last is not None and "text" in p and "text" in last \
                and bool(p.get("thought")) == bool(last.get("thought")):
            out[-1] = {**last, **p, "text": last["text"] + p["text"]}
        else:
            out.append(dict(p))
    return out


@st.composite
def responses(draw: st.DrawFn) -> dict[str, Any]:
    candidates = [{"index": i, "content": {"role": "model",
                                           "parts": _joined(draw(st.lists(_part, max_size=4)))},
                   "finishReason": draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY",
                                                         "MALFORMED_FUNCTION_CALL"]))}
                  for i in range(draw(st.integers(1, 2)))]
    return {"candidates": candidates, "modelVersion": "gemini-x",
            "usageMetadata": {"promptTokenCount": draw(st.integers(0, 999)),
                              "candidatesTokenCount": draw(st.integers(0, 99)),
                              "thoughtsTokenCount": draw(st.integers(0, 9)),
                              "cachedContentTokenCount": draw(st.integers(0, 9))}}


@settings(max_examples=120, deadline=None)
@given(responses(), st.lists(st.integers(1, 9), max_size=12))
def test_recording_and_replay_read_the_same_bytes_as_the_same_messages(
        response: dict[str, Any], cuts: list[int]) -> None:
    whole = recorded(response)
    assert len(whole) == len(response["candidates"])
    assert recorded(chunks=stream(response, cuts)) == whole
    replayed = gemini.decode_response(json.loads(json.dumps(response)))
    assert replayed == as_replayed(whole[0], response["usageMetadata"])


CALL: dict[str, Any] = {
    "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": "plan", "thought": True},
        {"functionCall": {"name": "lookup", "args": {"order": 7}}, "thoughtSignature": "c2ln"},
        {"executableCode": {"language": "PYTHON", "code": "1"}}]}}],
    "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 4,
                      "thoughtsTokenCount": 6}}


def test_the_client_reads_calls_thoughts_and_other_parts_as_the_recording_does() -> None:
    path = "/v1beta/models/gemini-x:generateContent"
    reply = asyncio.run(served_reply("gemini", "gemini-x", path, "", json.dumps(CALL).encode()))
    [step] = recorded(CALL)
    assert reply == as_replayed(step, CALL["usageMetadata"])
    assert step.finish_reason == "tool_calls" and step.tool_calls[0].arguments == {"order": 7}
    assert [p.type for p in step.content] == ["thinking", "thinking", "json"]
    assert reply.usage == {"input_tokens": 20, "output_tokens": 10, "cached_tokens": 0}


CONVERSATION: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "contents": [{"role": "user", "parts": [{"text": "where is 7?"}]},
                 CALL["candidates"][0]["content"],
                 {"role": "user", "parts": [{"functionResponse": {
                     "name": "lookup", "response": {"result": {"state": "shipped"}}}}]}],
    "generationConfig": {"temperature": 0.1, "maxOutputTokens": 64},
    "tools": [{"functionDeclarations": [{"name": "lookup", "description": "find",
                                         "parametersJsonSchema": {"type": "object"}}]}]}


def test_a_request_reads_the_same_on_both_sides() -> None:
    messages, tools, params = gemini.decode_request(CONVERSATION)
    assert messages == [m.to_model() for m in request_call(CONVERSATION).messages]
    system, user, step, result = messages
    assert result.tool_call_id == step.tool_calls[0].id and result.result is not None
    assert result.result.content == '{"state": "shipped"}'
    assert result.result.structured == {"result": {"state": "shipped"}}
    assert (system.text, user.text) == ("be brief", "where is 7?")
    assert params == {"temperature": 0.1, "max_tokens": 64} and tools[0].name == "lookup"

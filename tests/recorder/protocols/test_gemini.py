"""Gemini generateContent: the official `google-genai` SDK against a fake upstream; the captured
bytes parse to what the SDK hands back (thought and text parts, parallel function calls, usage),
streamed and not; calls without ids thread into sessions; broken traffic is a problem, never an
exception; keys in headers and query strings never reach the disk."""

from __future__ import annotations

import json
from typing import Any

from google import genai
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st
from recorder_helpers import FakeUpstream, Reply

from recorder.derive import derive
from recorder.protocols import detect_protocol, parse_exchange
from recorder.protocols.gemini import SYNTHETIC_PREFIX, finish_reason
from recorder.redact import Redactor
from recorder.redact_rules import RuleSet
from recorder.testing import make_exchange

URL = "https://generativelanguage.googleapis.com/v1beta/models/gemini-test"
PARTS: list[dict[str, Any]] = [
    {"text": "Two cities, two calls.", "thought": True, "thoughtSignature": "c2ln"},
    {"text": "Checking both."},
    {"functionCall": {"id": "fc_1", "name": "forecast", "args": {"city": "Paris"}}},
    {"functionCall": {"id": "fc_2", "name": "forecast", "args": {"city": "Rome", "days": 2}}},
]
USAGE = {"promptTokenCount": 25, "candidatesTokenCount": 40, "thoughtsTokenCount": 7,
         "totalTokenCount": 72}
REQUEST: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "forecast",
                                                      "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "forecast", "response": {"result": "snow"}}},
            {"text": "Now Paris and Rome."}]},
    ],
    "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
    "tools": [{"functionDeclarations": [{"name": "forecast", "description": "Forecast.",
                                         "parameters": {"type": "OBJECT", "properties": {
                                             "city": {"type": "STRING"}}}}]}],
    "generationConfig": {"temperature": 0.1},
}


def response(parts: list[dict[str, Any]], finish: str | None = "STOP",
             usage: dict[str, Any] | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand], "usageMetadata": usage or USAGE, "modelVersion": "gemini-test",
            "responseId": "resp-1"}


def stream_events(parts: list[dict[str, Any]], sep: bytes = b"\r\n\r\n") -> bytes:
    """Text in 5-character pieces, each call whole, finish and usage last (as the API)."""
    pieces: list[dict[str, Any]] = []
    for p in parts:
        if "text" in p:
            text = p["text"]
            for i in range(0, len(text), 5):
                piece = {**p, "text": text[i:i + 5]}
                if i + 5 < len(text):
                    piece.pop("thoughtSignature", None)
                pieces.append(piece)
        else:
            pieces.append(p)
    out = b""
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        event = response([piece], "STOP" if last else None,
                         USAGE if last else {"promptTokenCount": 25})
        out += b"data: " + json.dumps(event).encode() + sep
    return out


def client(upstream: FakeUpstream) -> genai.Client:
    return genai.Client(api_key="AIza-test-key-0123456789", http_options=types.HttpOptions(
        base_url=upstream.url, api_version="v1beta"))


def sdk_view(r: types.GenerateContentResponse | list[types.GenerateContentResponse]) -> Any:
    chunks = r if isinstance(r, list) else [r]
    parts = [p for c in chunks for p in c.candidates[0].content.parts]  # type: ignore[index, union-attr]
    last = chunks[-1]
    return {"thought": "".join(p.text for p in parts if p.text and p.thought),
            "text": "".join(p.text for p in parts if p.text and not p.thought),
            "calls": [(p.function_call.id, p.function_call.name, p.function_call.args)
                      for p in parts if p.function_call],
            # the session model spells finish reasons as OpenAI does (a call's STOP: tool_calls)
            "finish": finish_reason(last.candidates[0].finish_reason.value,  # type: ignore[index, union-attr]
                                    any(p.function_call for p in parts)),
            "usage": (last.usage_metadata.prompt_token_count,  # type: ignore[union-attr]
                      last.usage_metadata.candidates_token_count)}  # type: ignore[union-attr]


def our_view(exchange: Any) -> Any:
    parsed = parse_exchange(exchange)
    assert parsed.protocol == "gemini" and parsed.problems == [] and parsed.llm is not None
    out, = parsed.llm.outputs
    return {"thought": "".join(p.text for p in out.content if p.type == "thinking"),
            "text": out.text,
            "calls": [(c.id, c.name, c.arguments) for c in out.tool_calls],
            "finish": out.finish_reason,
            "usage": (out.usage["promptTokenCount"], out.usage["candidatesTokenCount"])}


def sdk_contents() -> list[types.Content]:
    return [types.Content.model_validate(c) for c in REQUEST["contents"]]


async def test_non_streamed_function_calls_match_the_sdk(upstream: FakeUpstream) -> None:
    upstream.script = lambda req: Reply(json_body=response(PARTS))
    r = await client(upstream).aio.models.generate_content(
        model="gemini-test", contents=sdk_contents(), config=types.GenerateContentConfig(
            system_instruction="Be brief.", temperature=0.1))
    ex = upstream.exchanges[-1]
    assert our_view(ex) == sdk_view(r)
    call = parse_exchange(ex).llm
    assert call is not None
    assert (call.model, call.stream, call.response_id) == ("gemini-test", False, "resp-1")
    assert [m.role for m in call.messages] == ["system", "user", "assistant", "tool", "user"]
    asked, answered = call.messages[2].tool_calls[0], call.messages[3]
    # a call sent without an id gets one; its response, also without, links to it
    assert asked.id.startswith(SYNTHETIC_PREFIX) and answered.tool_call_id == asked.id
    assert answered.name == "forecast" and answered.result is not None
    assert answered.result.content == "snow" and call.messages[4].text == "Now Paris and Rome."
    assert call.params["generationConfig"] == {"temperature": 0.1}


async def test_streamed_parts_match_the_sdk_chunks(upstream: FakeUpstream) -> None:
    data = stream_events(PARTS)
    upstream.script = lambda req: Reply(chunks=[data[i:i + 70] for i in range(0, len(data), 70)])
    chunks = [c async for c in await client(upstream).aio.models.generate_content_stream(
        model="gemini-test", contents="Paris and Rome?")]
    ex = upstream.exchanges[-1]
    assert ex.request.url.endswith(":streamGenerateContent?alt=sse")
    assert our_view(ex) == sdk_view(chunks)
    call = parse_exchange(ex).llm
    assert call is not None and call.stream
    assert call.native is not None and call.native["candidates"][0]["content"]["parts"][0] == \
        PARTS[0]  # the thought's pieces joined, its signature kept


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=80), max_size=30), st.booleans())
def test_any_chunking_reassembles_identically(cuts: list[int], crlf: bool) -> None:
    data = stream_events(PARTS, b"\r\n\r\n" if crlf else b"\n\n")
    pieces, pos = [], 0
    for c in cuts:
        pieces.append(data[pos:pos + c])
        pos += c
    pieces.append(data[pos:])
    url = URL + ":streamGenerateContent?alt=sse"
    one = parse_exchange(make_exchange(url, request_json=REQUEST, chunks=[data]))
    many = parse_exchange(make_exchange(url, request_json=REQUEST, chunks=pieces))
    assert one.llm is not None and many.llm is not None
    assert many.llm.outputs == one.llm.outputs and many.problems == one.problems == []
    assert one.llm.outputs[0].text == "Checking both."


def test_idless_calls_thread_into_one_session() -> None:
    first = {"contents": [{"role": "user", "parts": [{"text": "Weather in Oslo?"}]}]}
    call = {"functionCall": {"name": "forecast", "args": {"city": "Oslo"}}}
    second = {"contents": [*first["contents"], {"role": "model", "parts": [call]},
                           {"role": "user", "parts": [{"functionResponse": {
                               "name": "forecast", "response": {"result": "snow"}}}]}]}
    exchanges = [
        make_exchange(URL + ":generateContent", id="ex-1", request_json=first,
                      response_json=response([call])),
        make_exchange(URL + ":generateContent", id="ex-2", request_json=second,
                      response_json=response([{"text": "Snow in Oslo."}]),
                      started_at=1_700_000_001.0)]
    session, = derive(exchanges).sessions
    assert [m.role for m in session.messages] == ["user", "assistant", "tool", "assistant"]
    assert session.messages[2].tool_call_id == session.messages[1].tool_calls[0].id
    assert session.messages[3].text == "Snow in Oslo."


def test_protocol_detection_by_path() -> None:
    for url in (URL + ":generateContent", URL + ":streamGenerateContent?alt=sse",
                "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/"
                "publishers/google/models/gemini-test:generateContent"):
        ex = make_exchange(url, request_json=REQUEST, response_json=response(PARTS))
        assert detect_protocol(ex) == "gemini"
        call = parse_exchange(ex).llm
        assert call is not None and call.model == "gemini-test"
    other = make_exchange(URL + ":countTokens", request_json=REQUEST, response_json={})
    assert detect_protocol(other) != "gemini"


def test_broken_traffic_is_problems_not_exceptions() -> None:
    url = URL + ":streamGenerateContent?alt=sse"
    data = stream_events(PARTS)
    cut = parse_exchange(make_exchange(url, request_json=REQUEST,
                                       chunks=[data[: data.rfind(b"data:")]]))
    assert any("truncated" in p for p in cut.problems)
    assert cut.llm is not None and cut.llm.outputs[0].text == "Checking both."
    failed = parse_exchange(make_exchange(url, request_json=REQUEST, chunks=[
        data[:40].split(b"data:")[0] + b'data: {"error": {"code": 503, "message": '
        b'"The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n']))
    assert failed.llm is not None and failed.llm.error == "stream error: The model is overloaded."
    refused = parse_exchange(make_exchange(
        URL + ":generateContent", request_json=REQUEST, status=400, response_json={
            "error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}))
    assert refused.llm is not None and refused.llm.error == "HTTP 400: API key not valid."
    # without alt=sse the stream is one JSON array of the same chunks
    array = [json.loads(line[6:]) for line in data.decode().split("\r\n\r\n") if line]
    plain = parse_exchange(make_exchange(URL + ":streamGenerateContent", request_json=REQUEST,
                                         response_json=array))
    assert plain.problems == [] and plain.llm is not None
    assert [c.name for c in plain.llm.outputs[0].tool_calls] == ["forecast", "forecast"]
    garbage = parse_exchange(make_exchange(URL + ":generateContent",
                                           request_body=b'{"contents": [', response_json={}))
    assert garbage.protocol == "gemini" and any("not valid JSON" in p for p in garbage.problems)


def test_keys_in_headers_and_query_are_redacted() -> None:
    key = "AIzaSyA-abcdefghijklmnopqrstuvwxyz0123456"
    ex = make_exchange(URL + f":streamGenerateContent?alt=sse&key={key}",
                       request_json=REQUEST, request_headers=[("x-goog-api-key", key)],
                       chunks=[stream_events([{"text": "Mail ana@exa"},
                                              {"text": "mple.com today."}])])
    clean = Redactor(RuleSet(), b"k" * 32).redact_exchange(ex)
    assert key not in clean.request.url and key not in str(clean.request.headers)
    assert clean.response is not None and b"ana@exa" not in clean.response.body
    parsed = parse_exchange(clean)
    assert parsed.problems == [] and parsed.llm is not None
    assert "ana@example.com" not in parsed.llm.outputs[0].text

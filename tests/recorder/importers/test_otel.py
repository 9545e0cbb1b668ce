"""`deploysim import otel`: OpenTelemetry GenAI spans (OTLP JSON and protobuf) → sessions.

The fixtures in fixtures/ are written from the semantic conventions (attribute names, part
types, event bodies as the spec and OpenLLMetry define them), not from deploysim's output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from recorder_helpers import fixture

from deploysim.cli import run
from recorder.corpus import Corpus
from recorder.errors import UsageError
from recorder.importers.otel import import_otel
from recorder.importers.write import import_file
from recorder.session import Session
from recorder.turns import counted_turns


def one(path: str, **options: Any) -> Session:
    result = import_otel(path, **options)
    assert result.problems == [] and result.unmapped == {}, result.unmapped_summary()
    [session] = result.sessions
    return session


def test_current_conventions_give_the_whole_conversation() -> None:
    s = one(fixture("otel_semconv.json"), segment_attribute="app.tier")
    assert s.id == "conv_5j66UpCpwteGg4YSxUnt7lPY" and s.source.importer == "otel"
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant",
                                            "user", "assistant", "tool"]
    assert s.labels == {"model": "gpt-4o", "provider": "openai", "segment": "enterprise"}
    assert s.params == {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 512}
    assert [t.name for t in s.tools] == ["lookup_order", "refund"]
    assert s.tools[0].input_schema["required"] == ["order_id"]
    assert (s.started_at, s.ended_at) == (1760000001.0, 1760000004.0)
    call = s.messages[2].tool_calls[0]
    assert call.arguments == {"order_id": 42} and call.server == "orders.internal:8080"
    assert s.messages[2].usage == {"input_tokens": 97, "output_tokens": 22}
    lookup = s.messages[3].result
    assert lookup is not None and lookup.latency_ms == 250.0 and not lookup.is_error
    assert json.loads(lookup.content) == {"status": "shipped", "eta": "2025-10-12"}
    # the last step's tool ran after the last model call: its span gives the result
    refund = s.messages[7]
    assert refund.tool_call_id == "call_2" and refund.name == "refund"
    assert refund.result is not None and refund.result.is_error
    assert refund.text == "card issuer declined the refund"
    assert s.messages[6].content[0].type == "thinking"
    assert len(counted_turns(s)) == 2


def test_segment_defaults_to_a_segment_attribute() -> None:
    assert "segment" not in one(fixture("otel_semconv.json")).labels


def test_older_message_events_carry_their_bodies() -> None:
    """Log-record events with a body, span events with `event.body`, and `gen_ai.choice` with
    `tool_calls` beside `message` (as the spec has it): none becomes an empty message."""
    s = one(fixture("otel_events.jsonl"))
    assert s.id == "otel-0af7651916cd43dd8448eb211c80319c"
    assert s.labels == {"model": "gpt-4o-mini", "provider": "openai"}
    assert [(m.role, m.text) for m in s.messages] == [
        ("system", "You're a helpful bot"), ("user", "What's the weather in Paris?"),
        ("assistant", ""), ("tool", "rainy, 57°F"),
        ("assistant", "The weather in Paris is rainy and overcast, with temperatures around "
                      "57°F")]
    assert s.messages[2].tool_calls[0].arguments == {"location": "Paris"}
    assert s.messages[2].finish_reason == "tool_calls" and s.messages[3].name == "get_weather"


def test_openllmetry_indexed_attributes() -> None:
    s = one(fixture("otel_openllmetry.json"))
    assert [(m.role, m.text) for m in s.messages] == [
        ("system", "You book travel."), ("user", "Find me a flight to Oslo"),
        ("assistant", ""), ("tool", "SK4035 at 09:10, 1290 NOK"),
        ("assistant", "SK4035 leaves at 09:10 for 1290 NOK.")]
    assert s.messages[2].tool_calls[0].id == "call_k1"
    assert s.messages[2].usage == {"input_tokens": 40, "output_tokens": 12}
    assert s.tools[0].name == "search_flights" and s.tools[0].input_schema["type"] == "object"
    assert s.labels["provider"] == "OpenAI"


def _protobuf(doc: dict[str, Any]) -> bytes:
    """The OTLP JSON document as an `ExportTraceServiceRequest` (ids are hex in JSON, bytes in
    protobuf, base64 in protobuf's JSON mapping)."""
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    return ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


def test_protobuf_bare_and_length_prefixed(tmp_path: Path) -> None:
    expected = one(fixture("otel_semconv.json"))
    body = _protobuf(json.loads(Path(fixture("otel_semconv.json")).read_text()))
    bare = tmp_path / "export.pb"
    bare.write_bytes(body)
    assert one(str(bare)) == expected
    # the collector's file exporter: each message after its length (4 bytes, big-endian)
    half = json.loads(Path(fixture("otel_semconv.json")).read_text())
    spans = half["resourceSpans"][0]["scopeSpans"][0]["spans"]
    second = json.loads(json.dumps(half))
    half["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[:3]
    second["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[3:]
    framed = tmp_path / "collector.pb"
    framed.write_bytes(b"".join(len(m).to_bytes(4, "big") + m
                                for m in (_protobuf(half), _protobuf(second))))
    assert one(str(framed)) == expected


def test_unmapped_parts_and_spans_are_counted_and_named() -> None:
    result = import_otel(fixture("otel_unmapped.json"))
    assert sorted(result.unmapped) == sorted([
        "message part of type blob (audio)", "message part of type server_tool_call",
        "span of GenAI operation `embeddings`", "MCP `resources/read` span",
        "model-call span without recorded messages (was content capture off?)",
        "tool span `get_weather` not joined to any model tool call"])
    assert result.unmapped["MCP `resources/read` span"] == [
        "span 1000000000000003 (otel_unmapped.json)"]
    [s] = result.sessions  # the HTTP span and MCP `initialize` are no part of a conversation
    user, answer = s.messages
    assert [p.type for p in user.content] == ["text", "image"]
    assert user.content[1].data == "https://example.com/photo.png"
    assert answer.text == "It asks you to call back; the photo shows a cat."


def test_strict_refuses_a_file_with_unmapped_parts(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    code = run(["import", "otel", fixture("otel_unmapped.json"), "--out", out, "--strict"])
    assert code == 2
    assert "cannot map" in capsys.readouterr().err
    assert not list(Path(out).glob("*.cassette")) if Path(out).exists() else True
    assert run(["import", "otel", fixture("otel_unmapped.json"), "--out", out]) == 0
    printed = capsys.readouterr().err
    assert "not mapped in" in printed and "message part of type blob (audio)" in printed


@pytest.mark.parametrize(("content", "message"), [
    ('{"resourceSpans": []}\n{oops\n', "line 2 of bad.jsonl is not valid JSON"),
    ('{"spans": []}\n', "bad.jsonl is neither an OTLP export"),
    (json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "ab", "spanId": "cd01", "name": "chat", "attributes": [
            {"key": "gen_ai.input.messages", "value": {"stringValue": '{"role": "user"}'}}]}]}]}]}),
     "span cd01 (bad.jsonl) has a `gen_ai.input.messages` that is not a JSON list"),
    ("\x00\x00\x00\x09abc", "message 1 of bad.jsonl is cut short"),
])
def test_a_malformed_file_is_one_sentence_naming_the_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    with pytest.raises(UsageError, match="fix or remove it"):
        import_otel(str(bad))
    assert run(["import", "otel", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploysim: error: ") and message in err and "Traceback" not in err


def test_imported_sessions_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "test-key-0123456789")
    path, _ = import_file("otel", fixture("otel_semconv.json"), str(tmp_path / "out"),
                          options={"segment_attribute": "app.tier"})
    assert b"ana@example.com" not in Path(path).read_bytes()
    [s] = Corpus(path).sessions()
    assert "[REDACTED:email:" in s.messages[0].text and s.labels["segment"] == "enterprise"


def test_imported_corpus_builds_stubs_replays_and_grades(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from replayer.testing.fake_model import RuleAgent, serve_in_thread

    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "test-key-0123456789")
    corpus = str(tmp_path / "corpus")
    for name in ("otel_semconv.json", "otel_events.jsonl", "otel_openllmetry.json"):
        assert run(["import", "otel", fixture(name), "--out", corpus]) == 0
    capsys.readouterr()
    assert run(["stubs", "build", corpus, "--out", str(tmp_path / "idx"), "--json"]) == 0
    built = capsys.readouterr().out
    for tool in ("lookup_order", "refund", "get_weather", "search_flights"):
        assert tool in built
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent()) as server:
        code = run(["replay", corpus, "--model", "sim-candidate", "--base-url",
                    server.openai_url, "--out", out, "--progress", "off", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["counts"]["errors"] == 0
    assert summary["counts"]["turns"] == 4  # 2 + 1 + 1 answered user messages
    assert run(["grade", out, "--json", "--no-write"]) == 0
    graded = json.loads(capsys.readouterr().out)
    assert graded["turns"] == 4

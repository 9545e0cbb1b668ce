"""Importers: OpenAI-format JSONL and OTLP JSON GenAI spans → redacted sessions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recorder.corpus import Corpus
from recorder.errors import UsageError
from recorder.importers.openai_jsonl import import_openai_jsonl
from recorder.importers.otel import import_otel
from recorder.importers.write import import_file
from recorder.turns import counted_turns

LINE = {
    "id": "conv-1",
    "metadata": {"segment": "enterprise", "model": "gpt-4o", "region": "eu"},
    "tools": [{"type": "function", "function": {"name": "lookup", "description": "Find.",
                                                "parameters": {"type": "object"}}}],
    "messages": [
        {"role": "system", "content": "helpful"},
        {"role": "user", "content": "find ana@example.com"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"email": "ana@example.com"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"},
        {"role": "assistant", "content": "Found them."},
        {"role": "user", "content": "thanks"},
        {"role": "assistant", "content": "bye"},
    ],
}


def write_lines(path: Path, lines: list[Any]) -> str:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return str(path)


def test_openai_jsonl(tmp_path: Path) -> None:
    anon = {"messages": [{"role": "user", "content": "hi"},
                         {"role": "assistant", "content": "hello"}]}
    path = write_lines(tmp_path / "logs.jsonl", [LINE, "{broken", {"nope": 1}, anon])
    result = import_openai_jsonl(path)
    assert [p.split(" ")[1] for p in result.problems] == ["2", "3"]
    s, t = result.sessions
    assert s.id == "conv-1" and t.id.startswith("jsonl-")
    assert s.labels == {"segment": "enterprise", "model": "gpt-4o", "region": "eu"}
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant",
                                            "user", "assistant"]
    assert s.messages[3].name == "lookup" and len(counted_turns(s)) == 2
    assert s.tools[0].name == "lookup" and s.source.importer == "openai-jsonl"
    assert import_openai_jsonl(path).sessions[1].id == t.id  # stable ids


def test_import_writes_redacted_cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "test-key-0123456789")
    path = write_lines(tmp_path / "logs.jsonl", [LINE])
    out, _ = import_file("openai-jsonl", path, str(tmp_path / "out"))
    data = Path(out).read_bytes()
    assert b"ana@example.com" not in data and b"[REDACTED:email:" in data
    [s] = Corpus(out).sessions()
    assert s.messages[2].tool_calls[0].arguments["email"].startswith("[REDACTED:email:")
    with pytest.raises(UsageError, match="already exists"):
        import_file("openai-jsonl", path, str(tmp_path / "out"))
    empty = write_lines(tmp_path / "empty.jsonl", ["{bad"])
    with pytest.raises(UsageError, match="no usable conversation"):
        import_file("openai-jsonl", empty, str(tmp_path / "out2"))
    with pytest.raises(UsageError, match="cannot be read"):
        import_file("otel", str(tmp_path / "missing.json"), str(tmp_path / "out3"))


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v}
                                                                for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def span(span_id: str, start: int, attributes: dict[str, Any], *, trace: str = "t1",
         events: list[Any] | None = None, name: str = "chat m") -> dict[str, Any]:
    return {"traceId": trace, "spanId": span_id, "name": name,
            "startTimeUnixNano": str(start * 10**9), "endTimeUnixNano": str(start * 10**9 + 5 *
                                                                           10**8),
            "attributes": [kv(k, v) for k, v in attributes.items()], "events": events or [],
            "status": {}}


def export(spans: list[Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": [kv("segment", "pro")]},
                               "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}


def semconv_spans() -> list[Any]:
    call = {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"q": "x"}}
    first_in = [{"role": "user", "parts": [{"type": "text", "content": "find x"}]}]
    first_out = [{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]
    second_in = [*first_in, *first_out, {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": "c1", "response": "x is here"}]}]
    second_out = [{"role": "assistant", "parts": [{"type": "text", "content": "Here."}],
                   "finish_reason": "stop"}]
    base = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-test",
            "gen_ai.conversation.id": "conv-9",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "sys"}])}
    return [
        span("s1", 10, {**base, "gen_ai.input.messages": json.dumps(first_in),
                        "gen_ai.output.messages": json.dumps(first_out),
                        "gen_ai.usage.input_tokens": 12}),
        span("tool", 11, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                          "gen_ai.tool.call.id": "c1"}, name="execute_tool lookup"),
        span("s2", 12, {**base, "gen_ai.input.messages": json.dumps(second_in),
                        "gen_ai.output.messages": json.dumps(second_out)}),
    ]


def test_otel_semconv_messages(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(export(semconv_spans())))
    result = import_otel(str(path))
    assert result.problems == []
    [s] = result.sessions
    assert s.id == "conv-9" and s.labels == {"model": "gpt-test", "segment": "pro"}
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant"]
    tool = s.messages[3]
    assert tool.name == "lookup" and tool.result is not None
    assert tool.result.latency_ms == 500.0 and tool.result.content == "x is here"
    assert s.messages[2].tool_calls[0].arguments == {"q": "x"}
    assert s.messages[2].usage == {"input_tokens": 12}
    assert len(counted_turns(s)) == 1 and s.source.importer == "otel"


def test_otel_events_and_indexed_attributes_jsonl(tmp_path: Path) -> None:
    events = [
        {"name": "gen_ai.system.message", "attributes": [kv("content", "sys")]},
        {"name": "gen_ai.user.message", "attributes": [kv("content", "hello")]},
        {"name": "gen_ai.choice", "attributes": [
            kv("message", json.dumps({"role": "assistant", "content": "hi there"})),
            kv("finish_reason", "stop")]},
    ]
    by_events = span("e1", 20, {"gen_ai.operation.name": "chat"}, trace="t2", events=events)
    indexed = span("i1", 30, {
        "gen_ai.request.model": "old-model",
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "weather?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.tool_calls.0.id": "k1",
        "gen_ai.completion.0.tool_calls.0.name": "forecast",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Oslo"}'}, trace="t3")
    silent = span("x1", 40, {"gen_ai.operation.name": "chat"}, trace="t4")
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(json.dumps(export([s])) for s in (by_events, indexed, silent))
                    + "\n")
    result = import_otel(str(path))
    a, b = result.sessions
    assert a.id == "otel-t2" and [m.text for m in a.messages] == ["sys", "hello", "hi there"]
    assert a.messages[-1].finish_reason == "stop"
    assert b.messages[-1].tool_calls[0].arguments == {"city": "Oslo"}
    assert b.labels["model"] == "old-model"
    assert any("without recorded messages" in p for p in result.unmapped_summary())

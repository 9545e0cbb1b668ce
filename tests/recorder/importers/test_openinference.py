"""`deploysim import openinference`: Phoenix / Arize spans → sessions.

The fixtures follow the OpenInference semantic conventions (spec/llm_spans.md and
spec/tool_calling.md): the OTLP one with flattened attributes, the JSONL one in the logical
span shape Phoenix exports, nested attributes and all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recorder_helpers import FIXTURES

from deploysim.cli import run
from recorder.corpus import Corpus
from recorder.errors import UsageError
from recorder.importers.openinference import import_openinference

OTLP = str(FIXTURES / "openinference_otlp.json")
SPANS = str(FIXTURES / "openinference_spans.jsonl")


def test_llm_and_tool_spans_give_the_conversation() -> None:
    result = import_openinference(OTLP, segment_attribute="metadata.tier")
    assert result.unmapped == {
        "span of kind RETRIEVER": ["span 9a0b1c2d3e4f5061 (openinference_otlp.json)"]}
    [s] = result.sessions
    assert s.id == "sess-23x87" and s.source.importer == "openinference"
    assert [(m.role, m.text) for m in s.messages] == [
        ("system", "You are a Shakespearean writing assistant."),
        ("user", "what is 23 times 87"), ("assistant", ""), ("tool", "2001"),
        ("assistant", "The product of 23 times 87 is 2001.")]
    call = s.messages[2].tool_calls[0]
    # the spec's example has no call ids: one is derived, the same in both LLM spans
    assert call.name == "multiply" and call.arguments == {"a": 23, "b": 87}
    tool = s.messages[3]
    assert tool.tool_call_id == call.id and tool.name == "multiply"
    assert tool.result is not None and tool.result.latency_ms == 1.0  # from the TOOL span
    assert s.labels == {"model": "gpt-3.5-turbo-0613", "provider": "openai",
                        "user_id": "user-7", "tags": "math", "segment": "free"}
    assert s.params == {"model": "gpt-3.5-turbo-0613", "temperature": 0.1}
    assert s.tools[0].name == "multiply" and s.tools[0].input_schema["required"] == ["a", "b"]
    assert s.messages[2].usage == {"input_tokens": 229, "output_tokens": 21}
    assert s.started_at == pytest.approx(1704995117.982858)


def test_phoenix_span_lines_with_nested_attributes() -> None:
    result = import_openinference(SPANS)
    assert result.unmapped == {} and result.problems == []
    [s] = result.sessions
    [expected] = import_openinference(OTLP).sessions
    assert [m.model_dump(exclude={"usage"}) for m in s.messages] == [
        m.model_dump(exclude={"usage"}) for m in expected.messages]
    assert "segment" not in s.labels  # the metadata has `tier`, read only when asked for
    assert s.started_at == pytest.approx(1705016717.982858)  # -07:00 honoured


def test_no_segment_unless_the_source_has_one() -> None:
    [s] = import_openinference(OTLP).sessions
    assert "segment" not in s.labels


def test_unmapped_content_is_named_and_strict_refuses(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    line = json.loads(Path(SPANS).read_text().splitlines()[0])
    line["attributes"]["llm.input_messages"].append({
        "message.role": "user", "message.contents": [
            {"message_content.type": "text", "message_content.text": "and this?"},
            {"message_content.type": "audio", "message_content.data": "UklGRg=="}]})
    path = tmp_path / "audio.jsonl"
    path.write_text(json.dumps(line) + "\n")
    result = import_openinference(str(path))
    assert result.unmapped == {"message content of type audio": [
        "span 01fa9612-01b8-4358-85d6-e3e067305ec3 (audio.jsonl)"]}
    assert result.sessions[0].messages[2].text == "and this?"
    assert run(["import", "openinference", str(path), "--out", str(tmp_path / "o"),
                "--strict"]) == 2
    assert "message content of type audio" in capsys.readouterr().err


def test_a_file_today_refused_now_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "test-key-0123456789")
    out = str(tmp_path / "out")
    assert run(["import", "openinference", OTLP, SPANS, "--out", out,
                "--segment-attribute", "metadata.tier"]) == 0
    printed = capsys.readouterr()
    assert "imported 1 session(s)" in printed.out and "span of kind RETRIEVER" in printed.err
    sessions = list(Corpus(out).sessions())
    assert len(sessions) == 2 and {s.labels["segment"] for s in sessions} == {"free"}


def test_malformed_span_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(Path(SPANS).read_text().splitlines()[0] + "\n"
                    + '{"context": {"span_id": "x"}, "attributes": [1, 2]}\n')
    with pytest.raises(UsageError, match=r"span x \(line 2 of spans.jsonl\) has `attributes` "
                                         "that are not an object"):
        import_openinference(str(path))

"""`import anthropic-jsonl`: request/response pairs and Message Batches lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorder_helpers import broken_copy, fixture

from recorder.errors import UsageError
from recorder.importers.anthropic_jsonl import import_anthropic_jsonl


def test_pairs_thread_into_one_conversation() -> None:
    result = import_anthropic_jsonl(fixture("anthropic_pairs.jsonl"))
    travel, ping = result.sessions
    assert [m.role for m in travel.messages] == ["system", "user", "assistant", "tool",
                                                 "assistant"]
    step = travel.messages[2]
    assert [p.type for p in step.content] == ["thinking", "text"]
    assert step.tool_calls[0].arguments == {"to": "Rome"} and step.finish_reason == "tool_calls"
    assert step.exchange_id is None  # nothing was recorded on the wire
    assert travel.messages[3].name == "search_flights"
    assert travel.messages[3].text == "AZ123 at 09:00"
    assert travel.labels == {"segment": "free", "model": "claude-sonnet-4-5"}
    assert travel.tools[0].input_schema["properties"]["to"] == {"type": "string"}
    assert travel.started_at == pytest.approx(1775030400.0)
    assert [m.role for m in ping.messages] == ["user"]
    assert result.unmapped == {"failed model call (its error is not part of a session)": [
        "anthropic_pairs.jsonl:line 3 (Overloaded)"]}
    again = import_anthropic_jsonl(fixture("anthropic_pairs.jsonl"))
    assert [s.id for s in again.sessions] == [travel.id, ping.id]  # stable ids


def test_batch_lines_pair_by_custom_id() -> None:
    result = import_anthropic_jsonl(fixture("anthropic_batch.jsonl"))
    ok, errored = result.sessions
    assert [m.text for m in ok.messages] == ["Translate 'hello' to French", "Bonjour"]
    assert ok.labels["custom_id"] == "req-1" and ok.started_at is None  # no clock: none
    assert [m.role for m in errored.messages] == ["user"]
    assert result.unmapped == {
        "failed model call (its error is not part of a session)": [
            "anthropic_batch.jsonl:req-2 (bad request)"],
        "batch result without its request (its answer has no conversation to belong to)": [
            "line 5"]}


def test_malformed_and_unknown_lines(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"line 2 is not valid JSON"):
        import_anthropic_jsonl(broken_copy(tmp_path, "anthropic_pairs.jsonl", 2))
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"hello": 1}\n[1, 2]\n')
    result = import_anthropic_jsonl(str(odd))
    assert result.sessions == [] and sorted(result.unmapped) == [
        "line that is not a JSON object", "line with neither `request` nor a batch `custom_id`"]

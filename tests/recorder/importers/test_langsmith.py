"""`import langsmith`: flat runs with dotted_order, and older nested run trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorder_helpers import broken_copy, fixture

from recorder.errors import UsageError
from recorder.importers.langsmith import import_langsmith
from recorder.turns import counted_turns


def test_runs_with_serialized_langchain_messages() -> None:
    result = import_langsmith(fixture("langsmith_runs.jsonl"))
    assert result.problems == []
    assert result.unmapped == {"retriever run": ["line 4"]}
    [s] = result.sessions
    assert s.id == "thread-5" and s.source.importer == "langsmith"  # extra.metadata.thread_id
    assert s.labels == {"thread_id": "thread-5", "segment": "pro", "model": "gpt-4o-mini"}
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant"]
    call = s.messages[2].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_r1", "refund", {"order": 77})
    assert s.messages[2].finish_reason == "tool_calls"
    tool = s.messages[3]
    assert tool.result is not None and tool.result.is_error  # status error + the tool run
    assert tool.result.latency_ms == 500.0
    assert s.messages[4].text == "The refund failed because the card expired."
    assert [t.name for t in s.tools] == ["refund"]
    assert s.params == {"temperature": 0.0, "model": "gpt-4o-mini"}
    assert s.started_at == pytest.approx(1769947200.1) and len(counted_turns(s)) == 1


def test_older_nested_run_tree_with_openai_outputs() -> None:
    result = import_langsmith(fixture("langsmith_tree.json"))
    [s] = result.sessions
    assert s.id == "conv-old-1"  # extra.metadata.conversation_id
    assert [m.text for m in s.messages] == ["Summarize support tickets.", "Summarize ticket 5",
                                            "Ticket 5: printer jam."]
    assert s.messages[2].finish_reason == "stop" and s.params["temperature"] == 0.5
    assert list(result.unmapped) == ["embedding run"]
    assert "9e0f0000-0000-4000-8000-00000000000c" in result.unmapped["embedding run"][0]


def test_dotted_order_gives_order_and_trace_without_start_time(tmp_path: Path) -> None:
    import json
    trace = "11111111-1111-4111-8111-111111111111"
    child = "22222222-2222-4222-8222-222222222222"
    run = {"id": child, "run_type": "llm", "inputs": {"messages": [{"role": "user",
                                                                     "content": "hi"}]},
           "outputs": {"role": "assistant", "content": "hello"},
           "dotted_order": f"20260101T000000000000Z{trace}.20260101T000001500000Z{child}"}
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(run) + "\n")
    [s] = import_langsmith(str(path)).sessions
    assert s.id == trace and s.started_at == pytest.approx(1767225601.5)
    assert [m.text for m in s.messages] == ["hi", "hello"]


def test_malformed_file_names_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"line 2 is not valid JSON"):
        import_langsmith(broken_copy(tmp_path, "langsmith_runs.jsonl", 2))

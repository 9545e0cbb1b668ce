"""`import openai-responses`: stored responses chained by previous_response_id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recorder_helpers import broken_copy, fixture

from recorder.errors import UsageError
from recorder.importers.openai_responses import import_openai_responses


def test_chain_becomes_one_session() -> None:
    result = import_openai_responses(fixture("openai_responses.jsonl"))
    [s] = result.sessions
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant",
                                            "assistant"]  # instructions once, not per call
    step = s.messages[2]
    assert step.content[0].type == "thinking" and step.content[0].text == "Run tests first."
    assert step.tool_calls[0].arguments == {"path": "tests/"}
    assert s.messages[3].name == "run_tests" and s.messages[3].text == "1 failed: test_add"
    assert s.labels == {"segment": "dev", "model": "gpt-5-mini"}
    assert [t.name for t in s.tools] == ["run_tests"]
    assert s.started_at == pytest.approx(1767261600.0)
    assert result.unmapped == {
        "response stored without its input items (only the answer is kept)": ["line 3"]}


def test_json_array_of_request_response_pairs(tmp_path: Path) -> None:
    pairs = [{"request": {"model": "gpt-5", "input": "hi", "metadata": {"session_id": "c1"}},
              "response": {"id": "r1", "created_at": 1767261600, "output": [
                  {"type": "message", "role": "assistant",
                   "content": [{"type": "output_text", "text": "hello"}]}]}},
             {"request": {"model": "gpt-5", "previous_response_id": "r1", "input": "bye",
                          "metadata": {"session_id": "c1"}},
              "response": {"id": "r2", "created_at": 1767261601, "output": [
                  {"type": "message", "role": "assistant",
                   "content": [{"type": "output_text", "text": "ciao"}]}]}}]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs, indent=1))
    [s] = import_openai_responses(str(path)).sessions
    assert s.id == "c1" and [m.text for m in s.messages] == ["hi", "hello", "bye", "ciao"]


def test_malformed_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"line 2 is not valid JSON"):
        import_openai_responses(broken_copy(tmp_path, "openai_responses.jsonl", 2))

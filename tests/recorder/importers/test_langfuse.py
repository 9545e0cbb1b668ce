"""`import langfuse`: the public API's trace JSON and observations JSONL (older snake_case)."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorder_helpers import broken_copy, cli_import, fixture

from recorder.corpus import Corpus
from recorder.errors import UsageError
from recorder.importers.langfuse import import_langfuse
from recorder.turns import counted_turns


def test_trace_with_observations_and_scores() -> None:
    result = import_langfuse(fixture("langfuse_trace.json"))
    assert result.problems == [] and result.unmapped == {}
    [s] = result.sessions
    assert s.id == "sess-42" and s.source.importer == "langfuse"
    assert s.labels == {"segment": "enterprise", "region": "eu", "user_id": "user-9",
                        "tags": "prod,support", "model": "gpt-4.1-mini"}
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant"]
    call = s.messages[2].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_1", "lookup_order", {"order_id": "1234"})
    tool = s.messages[3]
    assert tool.name == "lookup_order" and tool.result is not None
    assert tool.result.latency_ms == 250.0  # from the TOOL observation
    assert s.messages[2].usage == {"input_tokens": 120, "output_tokens": 18, "total_tokens": 138}
    assert s.params == {"model": "gpt-4.1-mini", "temperature": 0.2, "max_tokens": 512}
    assert [t.name for t in s.tools] == ["lookup_order"]
    assert s.started_at == pytest.approx(1772445600.1) and len(counted_turns(s)) == 1
    [score] = result.annotations
    assert (score.session_id, score.name, score.value) == ("sess-42", "helpfulness", 0.9)
    assert score.data["comment"] == "good answer"


def test_observations_jsonl_older_shape_counts_what_it_cannot_map() -> None:
    result = import_langfuse(fixture("langfuse_observations.jsonl"))
    old, failed = result.sessions
    assert old.id == "t-old" and [m.role for m in old.messages] == [
        "user", "assistant", "tool", "assistant"]
    assert old.messages[1].tool_calls[0].arguments == {"city": "Oslo"}  # Anthropic blocks
    assert old.messages[2].text == "-3C, snow" and old.messages[2].name == "forecast"
    assert old.messages[1].usage == {"input_tokens": 40, "output_tokens": 12,
                                     "total_tokens": 52}  # promptTokens / completionTokens
    assert all(m.text or m.tool_calls for m in old.messages)  # never an empty message
    assert failed.id == "t-fail" and [m.role for m in failed.messages] == ["user"]
    assert result.unmapped == {
        "RETRIEVER observation": ["line 2"], "EVENT observation": ["line 4"],
        "failed model call (its error is not part of a session)": [
            "langfuse_observations.jsonl:o-5 (429 rate limited)"]}


def test_malformed_file_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    bad = broken_copy(tmp_path, "langfuse_observations.jsonl", 3)
    with pytest.raises(UsageError, match=r"broken-langfuse_observations.jsonl line 3 is not "
                                         "valid JSON"):
        import_langfuse(bad)
    assert cli_import("langfuse", bad, "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploysim: error:") and "line 3" in err and "Traceback" not in err


def test_cli_strict_refuses_unmapped_and_default_lists_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "test-key-0123456789")
    path = fixture("langfuse_observations.jsonl")
    assert cli_import("langfuse", path, "--out", str(tmp_path / "s"), "--strict") == 2
    assert "cannot map" in capsys.readouterr().err
    assert not (tmp_path / "s" / "langfuse_observations.cassette").exists()
    assert cli_import("langfuse", path, fixture("langfuse_trace.json"),
                      "--out", str(tmp_path / "ok")) == 0
    err = capsys.readouterr().err
    assert "1 × RETRIEVER observation (line 2)" in err
    sessions = {s.id: s for s in Corpus(str(tmp_path / "ok")).sessions()}
    assert set(sessions) == {"t-old", "t-fail", "sess-42"}
    text = sessions["sess-42"].messages[1].text
    assert "ana@example.com" not in text and "[REDACTED:email:" in text  # redacted on write
    [score] = Corpus(str(tmp_path / "ok")).annotations()
    assert score.session_id == "sess-42"

"""`import inspect`: Inspect AI `.json` logs and `.eval` zips (header + samples)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from recorder_helpers import FIXTURES, fixture

from recorder.errors import UsageError
from recorder.importers.inspect_log import import_inspect
from recorder.session import Session


def eval_zip(tmp_path: Path, sample: dict, name: str = "log.eval") -> str:
    """A `.eval` log as Inspect writes it: header.json + samples/<id>_epoch_<n>.json."""
    log = json.loads((FIXTURES / "inspect_log.json").read_text())
    header = {k: v for k, v in log.items() if k != "samples"}
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("_journal/start.json", json.dumps({"version": 2, "eval": header["eval"]}))
        zf.writestr("header.json", json.dumps(header))
        zf.writestr(f"samples/{sample['id']}_epoch_{sample['epoch']}.json", json.dumps(sample))
        zf.writestr("summaries.json", "[]")
    return str(path)


def check_sample(s: Session) -> None:
    assert s.id == "ctf_mini/flag-1#1" and s.source.importer == "inspect"
    assert s.labels == {"segment": "security", "difficulty": "easy", "task": "ctf_mini",
                        "epoch": "1", "model": "openai/gpt-4o", "score.includes": "C"}
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant",
                                            "tool", "assistant"]
    first = s.messages[2]
    assert [p.type for p in first.content] == ["thinking", "text"]  # reasoning kept, marked
    assert first.tool_calls[0].arguments == {"cmd": "ls /challenge"}
    assert first.usage["input_tokens"] == 100 and first.finish_reason == "tool_calls"
    listing = s.messages[3]
    assert listing.result is not None and listing.result.content == "flag.txt\nREADME"
    assert listing.result.latency_ms == 250.0 and listing.name == "bash"
    denied = s.messages[5]
    assert denied.result is not None and denied.result.is_error
    assert denied.text == "cat: /challenge/secret: Permission denied"  # never empty
    assert denied.result.latency_ms == 500.0
    assert [t.name for t in s.tools] == ["bash"] and s.tools[0].input_schema["required"] == [
        "cmd"]
    assert s.params == {"temperature": 0.7, "max_tokens": 2048, "model": "openai/gpt-4o"}
    assert s.started_at == pytest.approx(1767621600.0)


def test_json_log() -> None:
    result = import_inspect(fixture("inspect_log.json"))
    assert result.problems == [] and result.unmapped == {}
    [s] = result.sessions
    check_sample(s)
    [score] = result.annotations
    assert (score.name, score.value, score.data["explanation"]) == (
        "score.includes", "C", "target found")


def test_eval_zip_and_missing_attachment(tmp_path: Path) -> None:
    sample = json.loads((FIXTURES / "inspect_log.json").read_text())["samples"][0]
    [s] = import_inspect(eval_zip(tmp_path, sample)).sessions
    check_sample(s)
    del sample["attachments"]
    result = import_inspect(eval_zip(tmp_path, sample, "noattach.eval"))
    assert list(result.unmapped) == ["attachment reference with no attachment (3f2a9c)"]


def test_older_single_score_and_events_only_sample(tmp_path: Path) -> None:
    """Logs before `scores` became a dict had `score`; a sample may hold only events."""
    sample = {"id": 7, "epoch": 2, "score": {"value": 1.0}, "messages": [], "events": [
        {"event": "model", "model": "m", "input": [{"role": "user", "content": "2+2?"}],
         "output": {"choices": [{"message": {"role": "assistant", "content": "4"},
                                 "stop_reason": "stop"}]}}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"eval": {"task": "math"}, "samples": [sample]}))
    result = import_inspect(str(path))
    [s] = result.sessions
    assert s.id == "math/7#2" and [m.text for m in s.messages] == ["2+2?", "4"]
    assert s.labels["score.score"] == "1.0"


def test_damaged_logs_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"eval": {"task": "x"},\n "samples": [\n{"id": 1,,}]}')
    with pytest.raises(UsageError, match=r"bad.json \(the file\) line 3 is not valid JSON"):
        import_inspect(str(bad))
    with zipfile.ZipFile(tmp_path / "z.eval", "w") as zf:
        zf.writestr("header.json", "{}")
        zf.writestr("samples/1_epoch_1.json", '{"id": 1,\n oops}')
    with pytest.raises(UsageError, match=r"samples/1_epoch_1.json\) line 2"):
        import_inspect(str(tmp_path / "z.eval"))
    (tmp_path / "cut.eval").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(UsageError, match=r"not a readable \.eval log"):
        import_inspect(str(tmp_path / "cut.eval"))

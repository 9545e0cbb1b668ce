"""`deploysim sessions | show | derive | import`: in-process and one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploysim.cli import run
from recorder.corpus import Corpus
from recorder.testing import make_exchange, tool_conversation
from recorder.writer import CassetteWriter

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "cli-test-key-0123456789")
    path = str(tmp_path / "rec" / "a.cassette")
    broken = make_exchange("https://api.openai.com/v1/chat/completions", id="broken",
                           started_at=50, request_body=b"{not json")
    with CassetteWriter(path) as w:
        w.write_many([e.model_copy(update={"labels": {**e.labels, "segment": "pro"}})
                      for e in tool_conversation()])
        w.write(broken)
    return str(tmp_path / "rec")


def test_sessions_json(corpus: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sessions", corpus, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    llm, tools = rows
    assert {k: llm[k] for k in ("segment", "model", "turns", "tool_calls", "tools")} == {
        "segment": "pro", "model": "m", "turns": 1, "tool_calls": 1, "tools": {"forecast": 1}}
    assert tools["source"] == "tool_only" and tools["tools"] == {
        "GET /customers/42": 1, "POST /notes": 1}
    assert tools["turns"] == 0 and tools["tool_calls"] == 2
    assert run(["sessions", corpus]) == 0
    assert "2 session(s)" in capsys.readouterr().out


def test_show_renders_conversation(corpus: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(["sessions", corpus, "--json"])
    sid = json.loads(capsys.readouterr().out)[0]["id"]
    assert run(["show", corpus, sid[:8]]) == 0
    text = capsys.readouterr().out
    assert "→ forecast @weather" in text and "← forecast: sunny in Paris" in text
    assert "exchange mcp-call" in text and "took" in text
    assert run(["show", corpus, "nope"]) == 2
    assert "no session with id 'nope'" in capsys.readouterr().err


def test_derive_attaches_problems_and_redacts(corpus: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "derived")
    assert run(["derive", corpus, "--out", out]) == 0
    assert "1 exchange(s) have parse problems" in capsys.readouterr().out
    assert run(["inspect", out, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exchanges_with_parse_problems"] == 1 and summary["sessions"] == 2
    assert summary["turns"] == 1
    [bad] = [e for e in Corpus(out).exchanges() if e.id == "broken"]
    assert any("not valid JSON" in p for p in bad.problems)
    assert run(["derive", corpus, "--out", out]) == 2
    assert "already exists" in capsys.readouterr().err


def test_import_cli_and_subprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "cli-test-key-0123456789")
    src = tmp_path / "chats.jsonl"
    src.write_text(json.dumps({"metadata": {"segment": "free", "model": "gpt-x"}, "messages": [
        {"role": "user", "content": "call me at +1 415-555-0100"},
        {"role": "assistant", "content": "ok"}]}) + "\n" + "{bad\n")
    out = str(tmp_path / "imported")
    assert run(["import", "openai-jsonl", str(src), "--out", out]) == 0
    captured = capsys.readouterr()
    assert "imported 1 session(s)" in captured.out and "line 2" in captured.err
    env = {**os.environ, "DEPLOYSIM_REDACTION_KEY": "cli-test-key-0123456789"}
    proc = subprocess.run([DEPLOYSIM, "sessions", out, "--json"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["segment"] == "free" and row["model"] == "gpt-x" and row["turns"] == 1
    shown = subprocess.run([DEPLOYSIM, "show", out, row["id"]], capture_output=True, text=True,
                           env=env, timeout=120, check=False)
    assert shown.returncode == 0 and "[REDACTED:phone:" in shown.stdout
    assert "555-0100" not in shown.stdout
    bad = subprocess.run([DEPLOYSIM, "import", "otel", str(src), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "line 1 of chats.jsonl is neither an OTLP export" in bad.stderr


@pytest.mark.parametrize("out", ["{file}", "{file}/sub", "/proc/deploysim-out"])
def test_derive_and_import_refuse_an_out_that_cannot_be_a_folder(
        out: str, corpus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "file"
    file.write_text("already here")
    src = tmp_path / "chats.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    out = out.replace("{file}", str(file))
    for cmd in (["derive", corpus, "--out", out],
                ["import", "openai-jsonl", str(src), "--out", out],
                ["import", "otel", str(src), "--out", out]):
        assert run(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert err.startswith(f"deploysim: error: --out {out} ") and err.count("\n") == 1
        assert "internal error" not in err and "Traceback" not in err
    assert file.read_text() == "already here"  # nothing already there is touched

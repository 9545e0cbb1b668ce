"""An imported corpus (five trace formats, one folder) replays, grades, exports and gates like a
recorded one: its tool calls answer the replay as stubs, verdicts land beside the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deploysim.cli import run
from recorder.corpus import Corpus
from recorder.turns import counted_turns
from replayer.run_folder import trajectories
from replayer.testing.fake_model import RuleAgent, serve_in_thread

sys.path.insert(0, str(Path(__file__).parents[1] / "recorder"))
from recorder_helpers import fixture

IMPORTS = [("langfuse", "langfuse_trace.json"), ("langsmith", "langsmith_runs.jsonl"),
           ("inspect", "inspect_log.json"), ("anthropic-jsonl", "anthropic_pairs.jsonl"),
           ("openai-responses", "openai_responses.jsonl")]


def test_imported_corpus_replays_grades_and_exports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "test-key-0123456789")
    corpus = str(tmp_path / "imported")
    for kind, name in IMPORTS:
        assert run(["import", kind, fixture(name), "--out", corpus]) == 0
    capsys.readouterr()
    sessions = list(Corpus(corpus).sessions())
    turns = sum(len(counted_turns(s)) for s in sessions)
    assert {s.source.importer for s in sessions} == {k for k, _ in IMPORTS}
    assert turns >= 5
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent()) as server:
        code = run(["replay", corpus, "--model", "sim-candidate", "--base-url",
                    server.openai_url, "--out", out, "--progress", "off", "--json"])
    summary = json.loads(capsys.readouterr().out)
    # the rule agent invents arguments now and then; a call no stub can answer fails its turn
    # (exit 3), which is the replay working, not the import failing
    assert code in (0, 3) and summary["status"] == "complete"
    assert set(summary["errors_by_reason"]) <= {"stub_miss"}
    assert summary["counts"]["turns"] == turns
    assert summary["answers"]["exact"] >= 1  # a stub built from an imported tool call
    generated = [m for t in trajectories(out) for m in t.messages
                 if m.role == "tool" and m.origin == "generated"]
    # the candidate's tool calls were answered by stubs built from the imported tool calls
    assert generated and all(m.result is not None and m.result.provenance for m in generated)
    assert run(["grade", out, "--rubric", "default", "--json"]) == 0
    graded = json.loads(capsys.readouterr().out)
    assert graded["behaviors"] and all(b["turns"] == turns for b in graded["behaviors"].values())
    assert run(["export", "otel", out, "--out", str(tmp_path / "run.otlp.jsonl")]) == 0
    assert "annotation(s)" in capsys.readouterr().out
    # and it gates like a recorded corpus: a second model replayed on the same prefixes
    baseline = str(tmp_path / "baseline")
    with serve_in_thread(RuleAgent()) as server:
        code = run(["replay", corpus, "--model", "sim-deployed", "--base-url",
                    server.openai_url, "--out", baseline, "--progress", "off", "--json"])
    assert code in (0, 3)
    capsys.readouterr()
    policy = Path(__file__).parents[2] / "grader" / "example_policy.toml"
    code = run(["gate", "--baseline", baseline, "--candidate", out, "--policy", str(policy),
                "--audit", str(tmp_path / "audit.sqlite"), "--json"])
    decision = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and decision["decision"] in ("pass", "block")
    assert set(decision["behaviors"]) == set(graded["behaviors"])
    assert all(b["verdict"] in ("pass", "block", "inconclusive")
               for b in decision["behaviors"].values())
    assert decision["audit"]["anchor"]  # logged, with the head to keep

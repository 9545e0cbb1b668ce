"""`run_gate`: the gate as a library call returns what `deploysim gate --json` prints, logs
and reports like the command, and writes nothing when an output path is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploysim.cli import run
from grader.audit import AuditLog
from grader.workflows import GateOutcome, run_gate
from recorder.errors import UsageError


def test_the_outcome_is_the_commands_json(world: dict[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_gate(world["baseline"], world["candidate"], "example")
    code = run(["gate", "--baseline", world["baseline"], "--candidate", world["candidate"],
                "--policy", "example", "--json"])
    assert isinstance(outcome, GateOutcome)
    assert outcome.result.decision == "block" and outcome.exit_code == code == 1
    assert outcome.to_dict() == json.loads(capsys.readouterr().out)
    assert outcome.audit is None and outcome.report == []
    flagged = sum(bool(v.flagged) for v in outcome.candidate.verdicts)
    assert flagged > sum(bool(v.flagged) for v in outcome.baseline.verdicts) > 0


def test_audit_and_report(world: dict[str, str], tmp_path: Path) -> None:
    audit, report = tmp_path / "audit.db", tmp_path / "out" / "gate.html"
    outcome = run_gate(world["baseline"], world["candidate"], "example", audit=str(audit),
                       report=str(report))
    assert outcome.audit is not None and outcome.audit.row == 1
    doc = outcome.to_dict()
    assert list(doc)[-2:] == ["audit", "report"]
    assert doc["audit"]["anchor"] == f"1:{outcome.audit.hash}"
    assert outcome.report == [str(report), str(report.with_suffix(".md")),
                              str(report.with_suffix(".json"))]
    assert all(Path(p).is_file() for p in outcome.report)
    assert outcome.audit.describe() in report.with_suffix(".md").read_text()
    with AuditLog(str(audit), create=False) as log:
        assert log.verify().ok and [r.decision for r in log.rows()] == ["block"]


def test_a_refused_output_leaves_nothing_behind(world: dict[str, str], tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def refuse_report(path: str, *, option: str) -> None:
        seen.append((path, option))
        if option == "--report":
            raise UsageError(f"{option} {path} cannot be written.")

    audit, report = tmp_path / "audit.db", tmp_path / "gate.html"
    with pytest.raises(UsageError, match="--report"):
        run_gate(world["baseline"], world["candidate"], "example", audit=str(audit),
                 report=str(report), check_output=refuse_report)
    assert seen == [(str(audit), "--audit"), (str(report), "--report")]
    assert list(tmp_path.iterdir()) == []


def test_the_candidate_must_not_be_the_baseline(world: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="same run folder"):
        run_gate(world["baseline"], world["baseline"], "example")

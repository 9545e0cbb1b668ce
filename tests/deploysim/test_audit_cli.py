"""`deploysim audit list | show | verify`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from deploysim.cli import run
from grader.audit import AuditLog


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    with AuditLog(str(path)) as log:
        for i, decision in enumerate(["pass", "block", "pass"]):
            log.append({"decision": decision, "candidate": {"path": f"runs/c{i}", "run_id": "r"},
                        "baseline": {"path": "runs/b"}, "policy": {"path": "p.toml"}},
                       decision=decision)
    return path


def test_list_and_show(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "list", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "runs/c1" in text and "block" in text
    assert run(["audit", "list", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [1, 2, 3] and rows[1]["decision"] == "block"
    assert run(["audit", "show", "2", "--db", str(db)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["record"]["candidate"]["path"] == "runs/c1"
    assert shown["prev_hash"] == rows[0]["hash"]
    assert run(["audit", "show", "7", "--db", str(db)]) == 2
    assert "no row 7" in capsys.readouterr().err


def test_verify_passes_then_names_the_edited_and_deleted_rows(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "verify", "--db", str(db)]) == 0
    assert "3 row(s), chain intact" in capsys.readouterr().out
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER decisions_append_only_update")
    con.execute("DROP TRIGGER decisions_append_only_delete")
    con.execute("UPDATE decisions SET record = replace(record, 'c1', 'cX') WHERE id = 2")
    con.commit()
    assert run(["audit", "verify", "--db", str(db), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and {"row": 2, "problem": "its content does not match its hash (it "
                              "was edited)"} in doc["problems"]
    con.execute("DELETE FROM decisions WHERE id = 1")
    con.commit()
    con.close()
    assert run(["audit", "verify", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED row 2: rows 1..1 are missing (deleted)" in out


def test_not_ours_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    assert run(["audit", "verify", "--db", str(other)]) == 2
    assert "not a deploysim audit log" in capsys.readouterr().err
    assert other.read_bytes() == before
    assert run(["audit", "list", "--db", str(tmp_path / "none.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()

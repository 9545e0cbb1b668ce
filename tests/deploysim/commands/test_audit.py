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
    assert run(["audit", "list", "--audit", str(db)]) == 0
    text = capsys.readouterr().out
    assert "runs/c1" in text and "block" in text
    assert run(["audit", "list", "--audit", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [1, 2, 3] and rows[1]["decision"] == "block"
    assert run(["audit", "show", "2", "--audit", str(db)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["record"]["candidate"]["path"] == "runs/c1"
    assert shown["prev_hash"] == rows[0]["hash"]
    assert run(["audit", "show", "7", "--audit", str(db)]) == 2
    assert "no row 7" in capsys.readouterr().err


def test_verify_passes_then_names_the_edited_and_deleted_rows(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "verify", "--audit", str(db)]) == 0
    assert "3 row(s), chain intact" in capsys.readouterr().out
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER decisions_append_only_update")
    con.execute("DROP TRIGGER decisions_append_only_delete")
    con.execute("UPDATE decisions SET record = replace(record, 'c1', 'cX') WHERE id = 2")
    con.commit()
    assert run(["audit", "verify", "--audit", str(db), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and {"row": 2, "problem": "its content does not match its hash (it "
                              "was edited)"} in doc["problems"]
    con.execute("DELETE FROM decisions WHERE id = 1")
    con.commit()
    con.close()
    assert run(["audit", "verify", "--audit", str(db)]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED row 2: rows 1..1 are missing (deleted)" in out


def test_not_ours_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    assert run(["audit", "verify", "--audit", str(other)]) == 2
    assert "not a deploysim audit log" in capsys.readouterr().err
    assert other.read_bytes() == before
    assert run(["audit", "list", "--audit", str(tmp_path / "none.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def _unguarded(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER decisions_append_only_update")
    con.execute("DROP TRIGGER decisions_append_only_delete")
    return con


def _reguard(con: sqlite3.Connection) -> None:
    """Put the guards back, as a careful attacker would, and close."""
    for what in ("update", "delete"):
        con.execute(f"CREATE TRIGGER decisions_append_only_{what} BEFORE {what.upper()} ON "
                    "decisions BEGIN SELECT RAISE(ABORT, 'append-only'); END;")
    con.commit()
    con.close()


def test_head_prints_the_anchor(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "head", "--audit", str(db)]) == 0
    anchor = capsys.readouterr().out.strip()
    with AuditLog(str(db)) as log:
        assert anchor == f"3:{log.get(3).hash}"
    assert run(["audit", "head", "--audit", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"] == 3 and doc["anchor"] == anchor and doc["head_hash"] == anchor[2:]
    con = _unguarded(db)
    con.execute("UPDATE decisions SET decision = 'block' WHERE id = 1")
    con.commit()
    con.close()
    assert run(["audit", "head", "--audit", str(db)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "chain is broken" in captured.err


def test_expect_head_catches_a_rollback(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["audit", "head", "--audit", str(db)])
    anchor = capsys.readouterr().out.strip()
    with AuditLog(str(db)) as log:
        new_head = log.get(2).hash
    con = _unguarded(db)
    con.execute("DELETE FROM decisions WHERE id = 3")
    con.execute("UPDATE audit_meta SET value = '2' WHERE key = 'head_id'")
    con.execute("UPDATE audit_meta SET value = ? WHERE key = 'head_hash'", (new_head,))
    _reguard(con)
    assert run(["audit", "verify", "--audit", str(db)]) == 0  # the database alone cannot tell
    capsys.readouterr()
    assert run(["audit", "verify", "--audit", str(db), "--expect-head", anchor]) == 1
    captured = capsys.readouterr()
    assert "was rolled back: it ends at row 2" in captured.err
    assert "Traceback" not in captured.err and "ok:" not in captured.out
    assert run(["audit", "verify", "--audit", str(db), "--expect-head", anchor, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and doc["expected_head"]["kind"] == "rolled_back"


def test_expect_head_catches_a_recomputed_chain(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from grader.audit import GENESIS, row_hash

    run(["audit", "head", "--audit", str(db)])
    anchor = capsys.readouterr().out.strip()
    with AuditLog(str(db)) as log:
        rows = log.rows()
    con = _unguarded(db)
    prev = GENESIS
    for r in rows:
        decision = "pass" if r.id == 2 else r.decision
        digest = row_hash(r.id, r.created, decision, prev, r.record_text)
        con.execute("UPDATE decisions SET decision = ?, prev_hash = ?, hash = ? WHERE id = ?",
                    (decision, prev, digest, r.id))
        prev = digest
    con.execute("UPDATE audit_meta SET value = ? WHERE key = 'head_hash'", (prev,))
    _reguard(con)
    assert run(["audit", "verify", "--audit", str(db)]) == 0
    capsys.readouterr()
    assert run(["audit", "verify", "--audit", str(db), "--expect-head", anchor]) == 1
    assert "was rewritten: row 3 now hashes to" in capsys.readouterr().err


def test_expect_head_passes_appended_rows(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["audit", "head", "--audit", str(db), "--json"])
    anchor = json.loads(capsys.readouterr().out)["anchor"]
    with AuditLog(str(db)) as log:
        log.append({"decision": "pass"}, decision="pass")
        log.append({"decision": "block"}, decision="block")
    assert run(["audit", "verify", "--audit", str(db), "--expect-head", anchor]) == 0
    text = capsys.readouterr().out
    assert "5 row(s), chain intact" in text and "2 row(s) were added since" in text
    assert run(["audit", "verify", "--audit", str(db), "--expect-head", anchor[2:], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["expected_head"]["rows_added"] == 2
    assert run(["audit", "verify", "--audit", str(db), "--expect-head", "3:nothex"]) == 2
    assert "is not ROW:HASH or HASH" in capsys.readouterr().err

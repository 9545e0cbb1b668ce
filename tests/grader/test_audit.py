"""The audit log: append, chain verification, tamper detection, refusing foreign databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grader.audit import AuditLog, decision_record
from grader.gate_errors import AuditError


def _log_with_rows(path: Path, n: int = 3) -> None:
    with AuditLog(str(path)) as log:
        for i in range(n):
            log.append({"decision": "pass" if i % 2 else "block", "i": i, "rate": 0.1 * i},
                       decision="pass" if i % 2 else "block")


def _tamper(path: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS decisions_append_only_update")
    db.execute("DROP TRIGGER IF EXISTS decisions_append_only_delete")
    db.execute(sql, args)
    # put the guards back so only the data change is left to find
    db.execute("CREATE TRIGGER decisions_append_only_update BEFORE UPDATE ON decisions "
               "BEGIN SELECT RAISE(ABORT, 'the deploysim audit log is append-only'); END;")
    db.execute("CREATE TRIGGER decisions_append_only_delete BEFORE DELETE ON decisions "
               "BEGIN SELECT RAISE(ABORT, 'the deploysim audit log is append-only'); END;")
    db.commit()
    db.close()


def test_append_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path)
    with AuditLog(str(path), create=False) as log:
        rows = log.rows()
        assert [r.id for r in rows] == [1, 2, 3]
        assert rows[1].prev_hash == rows[0].hash and rows[0].prev_hash == "0" * 64
        assert rows[2].record == {"decision": "block", "i": 2, "rate": 0.2}
        v = log.verify()
        assert v.ok and v.rows == 3 and v.head_hash == rows[-1].hash
        assert log.get(2).decision == "pass"
        with pytest.raises(AuditError, match="no row 9"):
            log.get(9)


def test_the_database_refuses_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path)
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE decisions SET decision = 'pass' WHERE id = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM decisions WHERE id = 1")
    db.close()


def test_an_edited_row_is_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path)
    _tamper(path, "UPDATE decisions SET decision = 'pass' WHERE id = 1")
    with AuditLog(str(path)) as log:
        v = log.verify()
        assert not v.ok and v.problems[0][0] == 1 and "edited" in v.problems[0][1]
    _tamper(path, "UPDATE decisions SET record = replace(record, '0.2', '0.0') WHERE id = 3")
    with AuditLog(str(path)) as log:
        assert 3 in {row for row, _ in log.verify().problems}


def test_a_deleted_row_is_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path, 4)
    _tamper(path, "DELETE FROM decisions WHERE id = 2")
    with AuditLog(str(path)) as log:
        v = log.verify()
        assert not v.ok
        assert v.problems[0] == (3, "rows 2..2 are missing (deleted)")
    last = tmp_path / "last.db"
    _log_with_rows(last, 3)
    _tamper(last, "DELETE FROM decisions WHERE id = 3")
    with AuditLog(str(last)) as log:
        v = log.verify()
        assert not v.ok and "should end at row 3 but ends at row 2" in v.problems[0][1]


def test_removed_guards_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path, 1)
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER decisions_append_only_delete")
    db.commit()
    db.close()
    with AuditLog(str(path)) as log:
        assert "triggers" in log.verify().problems[0][1]


def test_a_tampered_log_is_never_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path)
    _tamper(path, "UPDATE decisions SET decision = 'block' WHERE id = 2")
    before = path.read_bytes()
    with AuditLog(str(path)) as log, pytest.raises(AuditError, match=r"tampered with.*row 2"):
        log.append({"x": 1}, decision="pass")
    assert path.read_bytes() == before


def test_foreign_databases_are_refused_untouched(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(AuditError, match="not a SQLite database"):
        AuditLog(str(junk))
    assert junk.read_bytes() == b"this is not a database at all" * 100
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(AuditError, match="not a deploysim audit log"):
        AuditLog(str(other))
    assert other.read_bytes() == before
    with pytest.raises(AuditError, match="does not exist"):
        AuditLog(str(tmp_path / "missing.db"), create=False)


def test_decision_record_holds_what_the_issue_lists() -> None:
    result = {"decision": "block", "reasons": ["x blocked"], "behaviors": {
        "x": {"baseline_rate": 0.1, "candidate_rate": 0.2, "ratio": 2.0, "interval": [1.5, 2.5],
              "threshold": 1.2, "verdict": "block", "reasons": ["above"], "per": "turn"}}}
    manifest = {"run_id": "r1", "corpus_hash": "c", "profile": {"name": "flaky"}, "seed": 7,
                "model": {"name": "m"}}
    rec = decision_record(result, policy={"rubric": "default"}, policy_path="p.toml",
                          policy_hash="ph", rubric_hash="rh",
                          baseline={"path": "b", "manifest": manifest},
                          candidate={"path": "c", "manifest": {**manifest, "run_id": "r2"}},
                          version="0.1.0")
    assert rec["corpus_hash"] == "c" and rec["rubric_hash"] == "rh"
    assert rec["policy"]["hash"] == "ph" and rec["candidate"]["run_id"] == "r2"
    assert rec["profiles"]["candidate"] == {"name": "flaky"} and rec["seeds"]["baseline"] == 7
    assert rec["behaviors"]["x"]["threshold"] == 1.2 and rec["deploysim_version"] == "0.1.0"
    assert rec["baseline"]["manifest"] == manifest and rec["decided_at"]

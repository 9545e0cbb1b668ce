"""The audit log: append, chain verification, tamper detection, refusing foreign databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grader.audit import GENESIS, Anchor, AuditLog, decision_record, row_hash
from grader.errors import AuditError


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


def _roll_back(path: Path, keep: int) -> None:
    """What a careful attacker does: delete the last rows and point the head at the new last."""
    with AuditLog(str(path)) as log:
        last = log.get(keep)
    _tamper(path, "DELETE FROM decisions WHERE id > ?", keep)
    _tamper(path, "UPDATE audit_meta SET value = ? WHERE key = 'head_id'", str(keep))
    _tamper(path, "UPDATE audit_meta SET value = ? WHERE key = 'head_hash'", last.hash)


def _rewrite(path: Path, row_id: int, decision: str) -> None:
    """Edit one row and recompute every hash from it on, so the chain is consistent again."""
    with AuditLog(str(path)) as log:
        rows = log.rows()
    prev = GENESIS
    for r in rows:
        new_decision = decision if r.id == row_id else r.decision
        digest = row_hash(r.id, r.created, new_decision, prev, r.record_text)
        _tamper(path, "UPDATE decisions SET decision = ?, prev_hash = ?, hash = ? WHERE id = ?",
                new_decision, prev, digest, r.id)
        prev = digest
    _tamper(path, "UPDATE audit_meta SET value = ? WHERE key = 'head_hash'", prev)


def test_a_rollback_passes_verify_but_not_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path, 5)
    with AuditLog(str(path)) as log:
        anchor = log.head()
    assert anchor.row == 5
    _roll_back(path, 3)
    with AuditLog(str(path)) as log:
        assert log.verify().ok  # nothing inside the database can tell
        check = log.check_anchor(anchor)
        assert not check.ok and check.kind == "rolled_back"
        assert "ends at row 3" in check.message and "rows 4..5 were deleted" in check.message
        bare = log.check_anchor(Anchor(anchor.hash))
        assert not bare.ok and bare.kind == "missing" and "rolled back or rewritten" in bare.message


def test_a_recomputed_chain_passes_verify_but_not_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    _log_with_rows(path, 4)
    with AuditLog(str(path)) as log:
        anchor = log.head()
        old_row2 = log.get(2).hash
    _rewrite(path, 2, "block")
    with AuditLog(str(path)) as log:
        assert log.verify().ok and log.get(2).hash != old_row2
        check = log.check_anchor(anchor)
        assert not check.ok and check.kind == "rewritten" and "row 4 now hashes" in check.message
        # an anchor taken before the edited row still holds: row 1 is untouched
        assert log.check_anchor(Anchor(log.get(1).hash, 1)).ok
        assert log.check_anchor(Anchor(old_row2, 2)).kind == "rewritten"


def test_rows_appended_after_the_anchor_pass(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(str(path)) as log:
        empty = log.head()
        assert empty == Anchor(GENESIS, 0) and log.check_anchor(empty).ok
    _log_with_rows(path, 2)
    with AuditLog(str(path)) as log:
        anchor = log.head()
        log.append({"x": 1}, decision="pass")
        log.append({"x": 2}, decision="block")
        check = log.check_anchor(anchor)
        assert check.ok and check.found_at == 2 and check.added == 2
        assert "2 row(s) were added since" in check.message
        assert log.check_anchor(Anchor(anchor.hash)).ok
        wrong_row = log.check_anchor(Anchor(anchor.hash, 3))
        assert not wrong_row.ok and wrong_row.kind == "mismatch"


def test_anchor_parsing() -> None:
    h = "ab" * 32
    assert Anchor.parse(f"7:{h}") == Anchor(h, 7)
    assert Anchor.parse(f" {h.upper()}\n") == Anchor(h)
    assert str(Anchor(h, 7)) == f"7:{h}" and str(Anchor(h)) == h
    for bad in ("", "7:", "abc", f"x:{h}", f"{h}0", f"-1:{h}"):
        with pytest.raises(AuditError, match="not ROW:HASH or HASH"):
            Anchor.parse(bad)


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


def test_a_new_audit_log_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "audit.db"
    AuditLog(str(path))
    assert path.exists()

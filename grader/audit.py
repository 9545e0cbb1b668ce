"""The audit log: every gate decision, append-only, each row hash-chained to the one before.

A row's hash is sha256 over its id, time, decision, the previous row's hash and its record (the
canonical JSON of everything that went into the decision). Editing any row breaks its hash;
deleting one breaks the next row's link (or, for the last row, the head kept in `audit_meta`).
SQLite triggers refuse UPDATE and DELETE so honest mistakes cannot happen; `verify` catches the
rest. What no check inside the database can catch is a rollback (the last rows deleted and the
head rewritten) or a chain recomputed from an edited row: keep the head's `Anchor` (`ROW:HASH`,
from `head()`) outside the database and `check_anchor` it later.

>>> with AuditLog("audit.db") as log:                     # doctest: +SKIP
...     row = log.append(record)
...     log.verify().ok
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from grader.errors import AuditError

FORMAT = "deploysim-audit"
VERSION = "1"
GENESIS = "0" * 64
_TRIGGERS = ("decisions_append_only_update", "decisions_append_only_delete")
_SCHEMA = f"""
CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,
    decision TEXT NOT NULL,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER {_TRIGGERS[0]} BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the deploysim audit log is append-only'); END;
CREATE TRIGGER {_TRIGGERS[1]} BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the deploysim audit log is append-only'); END;
INSERT INTO audit_meta VALUES ('format', '{FORMAT}'), ('version', '{VERSION}'),
    ('head_id', '0'), ('head_hash', '{GENESIS}');
"""


def canonical_json(obj: Any) -> str:
    """The one JSON text of a record that its hash covers (sorted keys, no NaN)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=str)


def row_hash(row_id: int, created: str, decision: str, prev_hash: str, record: str) -> str:
    """sha256 chaining a row to its predecessor."""
    blob = "\n".join([str(row_id), created, decision, prev_hash, record])
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class AuditRow:
    """One decision in the log."""

    id: int
    created: str
    decision: str
    record_text: str
    prev_hash: str
    hash: str

    @property
    def record(self) -> dict[str, Any]:
        try:
            data = json.loads(self.record_text)
        except json.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}


@dataclass
class Verification:
    """Result of checking the chain: ok, rows checked, problems by row, the head hash."""

    ok: bool
    rows: int
    head_hash: str
    problems: list[tuple[int | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Anchor:
    """A head kept outside the database: its hash and, when known, the row it was (the row is
    what tells a rollback from a rewrite). Written `ROW:HASH`, or a bare `HASH`."""

    hash: str
    row: int | None = None

    def __str__(self) -> str:
        return self.hash if self.row is None else f"{self.row}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        m = re.fullmatch(r"(?:(\d+):)?([0-9a-fA-F]{64})", text.strip())
        if m is None:
            raise AuditError(f"The expected head {text!r} is not ROW:HASH or HASH (64 hex "
                             "digits); give what `deploysim audit head` printed.")
        return cls(m[2].lower(), int(m[1]) if m[1] is not None else None)


@dataclass(frozen=True)
class AnchorCheck:
    """The chain against an anchor: `kind` is intact, rolled_back, rewritten or missing (a bare
    hash not in the chain, which cannot say which); `added` counts rows appended since."""

    ok: bool
    kind: str
    message: str
    found_at: int | None = None
    added: int = 0


class AuditLog:
    """An audit log database; created on first use, refused if it is not ours."""

    def __init__(self, path: str, *, create: bool = True) -> None:
        self.path = path
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if not exists and not create:
            raise AuditError(f"The audit log {path} does not exist; `deploysim gate --audit "
                             f"{path}` creates it on the first decision.")
        mode = "rw" if exists else "rwc"
        if not exists:  # a new log's folder is created with it, as every output's is
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            self._db = sqlite3.connect(f"file:{path}?mode={mode}", uri=True,
                                       isolation_level=None)
            tables = {r[0] for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"{path} is not a SQLite database ({exc}), so not a deploysim "
                             "audit log; give a new path or an existing audit log.") from exc
        if not exists:
            self._db.executescript(_SCHEMA)
            return
        meta = dict(self._db.execute("SELECT key, value FROM audit_meta")) \
            if "audit_meta" in tables else {}
        if meta.get("format") != FORMAT or "decisions" not in tables:
            self._db.close()
            raise AuditError(f"{path} is a SQLite database but not a deploysim audit log; give "
                             "a new path (it is created) or an existing audit log.")
        if meta.get("version") != VERSION:
            self._db.close()
            raise AuditError(f"{path} is a deploysim audit log of version "
                             f"{meta.get('version')}, which this deploysim cannot write; "
                             "upgrade deploysim.")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> list[AuditRow]:
        """Every row, in id order."""
        cur = self._db.execute("SELECT id, created, decision, record, prev_hash, hash "
                               "FROM decisions ORDER BY id")
        return [AuditRow(*r) for r in cur]

    def get(self, row_id: int) -> AuditRow:
        r = self._db.execute("SELECT id, created, decision, record, prev_hash, hash "
                             "FROM decisions WHERE id = ?", (row_id,)).fetchone()
        if r is None:
            raise AuditError(f"The audit log {self.path} has no row {row_id}; "
                             "`deploysim audit list` shows the rows.")
        return AuditRow(*r)

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM audit_meta"))

    def append(self, record: dict[str, Any], *, decision: str) -> AuditRow:
        """Append one decision, chained to the current head, in one transaction. Refuses to
        write to a log whose chain is already broken."""
        check = self.verify()
        if not check.ok:
            row, msg = check.problems[0]
            where = f"row {row}" if row is not None else "the log"
            raise AuditError(f"The audit log {self.path} has been tampered with ({where}: {msg});"
                             " nothing was written; run `deploysim audit verify` and restore it.")
        text = canonical_json(record)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            meta = self._meta()
            row_id, prev = int(meta["head_id"]) + 1, meta["head_hash"]
            digest = row_hash(row_id, created, decision, prev, text)
            self._db.execute("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
                             (row_id, created, decision, text, prev, digest))
            self._db.execute("UPDATE audit_meta SET value = ? WHERE key = 'head_id'",
                             (str(row_id),))
            self._db.execute("UPDATE audit_meta SET value = ? WHERE key = 'head_hash'",
                             (digest,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return AuditRow(row_id, created, decision, text, prev, digest)

    def verify(self) -> Verification:
        """Recompute every hash and link; report the first row of each kind of damage."""
        problems: list[tuple[int | None, str]] = []
        prev, expected_id = GENESIS, 1
        rows = self.rows()
        for r in rows:
            if r.id != expected_id:
                problems.append((r.id, f"rows {expected_id}..{r.id - 1} are missing (deleted)"))
            if r.prev_hash != prev:
                problems.append((r.id, "its link to the previous row does not match (a row "
                                       "before it was edited or deleted)"))
            if row_hash(r.id, r.created, r.decision, r.prev_hash, r.record_text) != r.hash:
                problems.append((r.id, "its content does not match its hash (it was edited)"))
            prev, expected_id = r.hash, r.id + 1
        meta = self._meta()
        head_id = int(meta.get("head_id", "0") or 0)
        last_id = rows[-1].id if rows else 0
        if head_id != last_id:
            problems.append((head_id, f"the log should end at row {head_id} but ends at row "
                                      f"{last_id} (rows were deleted)"))
        elif meta.get("head_hash") != prev:
            problems.append((head_id or None, "the head hash does not match the last row"))
        triggers = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'")}
        if not set(_TRIGGERS) <= triggers:
            problems.append((None, "the append-only guards (triggers) were removed"))
        return Verification(not problems, len(rows), prev, problems)

    def head(self) -> Anchor:
        """The anchor of the chain as it is now (row 0 and the genesis hash when empty)."""
        rows = self.rows()
        return Anchor(rows[-1].hash, rows[-1].id) if rows else Anchor(GENESIS, 0)

    def check_anchor(self, anchor: Anchor) -> AnchorCheck:
        """Is `anchor` still in the chain? Row ids are in every hash, so a hash can only be found
        at its own row: found means every row up to it is as it was (and what came after was
        appended); not found means the log was rolled back past it or rewritten at or before it.
        """
        rows = self.rows()
        last = rows[-1].id if rows else 0
        at = 0 if anchor.hash == GENESIS else next(
            (r.id for r in rows if r.hash == anchor.hash), None)
        short = anchor.hash[:16]
        if at is not None and anchor.row in (None, at):
            return AnchorCheck(True, "intact", f"the expected head {short}… is row {at}; "
                               f"{last - at} row(s) were added since", at, last - at)
        if at is not None:
            return AnchorCheck(False, "mismatch", f"The expected head {short}… is row {at} of "
                               f"{self.path}, not row {anchor.row} as the anchor says; check "
                               "the anchor you kept.", at)
        if anchor.row is None:
            return AnchorCheck(False, "missing", f"The audit log {self.path} was rolled back or "
                               f"rewritten: the expected head {short}… is not in its chain of "
                               f"{last} row(s); restore it from a backup (an anchor ROW:HASH "
                               "from `deploysim audit head` tells which).")
        if last < anchor.row:
            return AnchorCheck(False, "rolled_back", f"The audit log {self.path} was rolled "
                               f"back: it ends at row {last} but the expected head {short}… was "
                               f"row {anchor.row}, so rows {last + 1}..{anchor.row} were "
                               "deleted; restore it from a backup.")
        now = next((r.hash[:16] + "…" for r in rows if r.id == anchor.row), "nothing")
        return AnchorCheck(False, "rewritten", f"The audit log {self.path} was rewritten: row "
                           f"{anchor.row} now hashes to {now}, not the expected head "
                           f"{short}…, so it or a row before it was changed; restore it from a "
                           "backup.")


def decision_record(result: dict[str, Any], *, policy: dict[str, Any], policy_path: str,
                    policy_hash: str, rubric_hash: str, baseline: dict[str, Any],
                    candidate: dict[str, Any], version: str) -> dict[str, Any]:
    """What one audit row holds: the runs (path, id, manifest), corpus and rubric hashes, the
    policy, profiles and seeds, every behavior's rates, thresholds and verdict, the decision
    and its reasons, and the deploysim version. `baseline`/`candidate` are {path, manifest}."""

    def run(r: dict[str, Any]) -> dict[str, Any]:
        m = r.get("manifest") or {}
        return {"path": r.get("path"), "run_id": m.get("run_id"), "model": m.get("model"),
                "profile": m.get("profile"), "seed": m.get("seed"), "created": m.get("created"),
                "manifest": m}

    behaviors = {
        bid: {k: b.get(k) for k in ("severity", "per", "baseline_rate", "candidate_rate",
                                    "ratio", "difference", "interval", "interval_of",
                                    "threshold", "verdict", "counts_as", "reasons", "n")}
        for bid, b in result.get("behaviors", {}).items()}
    return {
        "decision": result.get("decision"), "reasons": result.get("reasons", []),
        "corpus_hash": (baseline.get("manifest") or {}).get("corpus_hash"),
        "rubric_hash": rubric_hash,
        "policy": {"path": policy_path, "hash": policy_hash, "content": policy},
        "baseline": run(baseline), "candidate": run(candidate),
        "profiles": {"baseline": (baseline.get("manifest") or {}).get("profile"),
                     "candidate": (candidate.get("manifest") or {}).get("profile")},
        "seeds": {"baseline": (baseline.get("manifest") or {}).get("seed"),
                  "candidate": (candidate.get("manifest") or {}).get("seed")},
        "deployment_mix": result.get("deployment_mix"),
        "behaviors": behaviors, "deploysim_version": version,
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }

"""`deploysim audit list | show ID | head | verify`: read and check the gate's audit log."""

from __future__ import annotations

import json
from typing import Any

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import err, out, print_json

audit_app = typer.Typer(help="Read and verify the gate's audit log.", no_args_is_help=True)

DEFAULT_DB = "deploysim-audit.db"
_AUDIT = typer.Option(DEFAULT_DB, "--audit", envvar="DEPLOYSIM_AUDIT", metavar="PATH",
                   help="The audit log (or set DEPLOYSIM_AUDIT).")


@audit_app.command("list", epilog=exit_codes({0: "listed"}))
def list_rows(audit: str = _AUDIT,
              as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON.")
              ) -> None:
    """One line per decision: id, time, decision, candidate, baseline, policy."""
    from grader.audit import AuditLog

    with AuditLog(audit, create=False) as log:
        rows = log.rows()
    summary: list[dict[str, str | int | None]] = []
    for r in rows:
        rec = r.record
        summary.append({
            "id": r.id, "created": r.created, "decision": r.decision,
            "candidate": (rec.get("candidate") or {}).get("path"),
            "candidate_run": (rec.get("candidate") or {}).get("run_id"),
            "baseline": (rec.get("baseline") or {}).get("path"),
            "policy": (rec.get("policy") or {}).get("path"), "hash": r.hash})
    if as_json:
        print_json(summary)
        return
    from rich.table import Table

    table = Table("id", "time", "decision", "candidate", "baseline", "policy")
    for s in summary:
        color = "green" if s["decision"] == "pass" else "red"
        table.add_row(str(s["id"]), str(s["created"])[:19], f"[{color}]{s['decision']}[/]",
                      str(s["candidate"]), str(s["baseline"]), str(s["policy"]))
    out.print(table)


@audit_app.command("show", epilog=exit_codes({0: "shown"}))
def show(row_id: int = typer.Argument(..., metavar="ID", help="Row id (see `audit list`)."),
         audit: str = _AUDIT) -> None:
    """Print one decision's full record (JSON) with its hash and link."""
    from grader.audit import AuditLog

    with AuditLog(audit, create=False) as log:
        r = log.get(row_id)
    print_json({"id": r.id, "created": r.created, "decision": r.decision,
                "prev_hash": r.prev_hash, "hash": r.hash, "record": json.loads(r.record_text)})


@audit_app.command("head", epilog=exit_codes(
    {0: "printed", 1: "the chain is broken (nothing printed on stdout)"}))
def head(audit: str = _AUDIT,
         as_json: bool = typer.Option(False, "--json", help="Print the head as JSON.")) -> None:
    """Print the chain's head as ROW:HASH (row = row count) to keep outside the database; exit
    1 if the chain is already broken, since anchoring it would vouch for the damage."""
    from grader.audit import AuditLog

    with AuditLog(audit, create=False) as log:
        v = log.verify()
        anchor = log.head()
    if not v.ok:
        row, msg = v.problems[0]
        err.print(f"{audit}: the audit log's chain is broken ({'row ' + str(row) if row else 'log'}"
                  f": {msg}), so its head is not worth keeping; run `deploysim audit verify`.",
                  markup=False)
        raise typer.Exit(1)
    if as_json:
        print_json({"path": audit, "rows": v.rows, "head_row": anchor.row,
                    "head_hash": anchor.hash, "anchor": str(anchor)})
    else:
        out.print(str(anchor), markup=False)


@audit_app.command("verify", epilog=exit_codes(
    {0: "the chain is intact", 1: "an edited or deleted row, or a rollback or rewrite past "
     "--expect-head"}))
def verify(audit: str = _AUDIT,
           expect_head: str | None = typer.Option(
               None, "--expect-head", metavar="ROW:HASH",
               help="A head kept outside the database (`deploysim audit head`): fail if the "
                    "log was rolled back past it or rewritten; rows appended since pass."),
           as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
           ) -> None:
    """Recompute the hash chain: exit 0 when intact, 1 naming every edited or deleted row (or
    a rollback or rewrite past the --expect-head anchor)."""
    from grader.audit import Anchor, AuditLog

    anchor = Anchor.parse(expect_head) if expect_head is not None else None
    with AuditLog(audit, create=False) as log:
        v = log.verify()
        head_row = log.head().row
        check = log.check_anchor(anchor) if anchor is not None else None
    ok = v.ok and (check is None or check.ok)
    if as_json:
        doc: dict[str, Any] = {
            "ok": ok, "rows": v.rows, "head_hash": v.head_hash, "head_row": head_row,
            "problems": [{"row": row, "problem": msg} for row, msg in v.problems]}
        if check is not None:
            doc["expected_head"] = {"anchor": str(anchor), "ok": check.ok, "kind": check.kind,
                                    "found_at": check.found_at,
                                    "rows_added": check.added if check.ok else None,
                                    "message": check.message}
        print_json(doc)
    elif ok:
        since = f"; {check.message}" if check is not None else ""
        out.print(f"ok: {v.rows} row(s), chain intact, head {head_row}:{v.head_hash}{since}",
                  markup=False)
    elif not v.ok:
        for row, msg in v.problems:
            where = f"row {row}" if row is not None else "log"
            out.print(f"TAMPERED {where}: {msg}", markup=False)
        err.print(f"{audit}: the audit log's chain is broken at {len(v.problems)} place(s); "
                  "restore it from a backup.", markup=False)
    if check is not None and not check.ok and not as_json:
        err.print(check.message, markup=False)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")

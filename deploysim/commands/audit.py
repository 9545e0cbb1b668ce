"""`deploysim audit list | show ID | verify`: read and check the gate's audit log."""

from __future__ import annotations

import json

import typer

from deploysim.console import err, out, print_json

audit_app = typer.Typer(help="Read and verify the gate's audit log.", no_args_is_help=True)

DEFAULT_DB = "deploysim-audit.db"
_DB = typer.Option(DEFAULT_DB, "--db", envvar="DEPLOYSIM_AUDIT",
                   help="The audit log (or set DEPLOYSIM_AUDIT).")


@audit_app.command("list")
def list_rows(db: str = _DB,
              as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON.")
              ) -> None:
    """One line per decision: id, time, decision, candidate, baseline, policy."""
    from grader.audit import AuditLog

    with AuditLog(db, create=False) as log:
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


@audit_app.command("show")
def show(row_id: int = typer.Argument(..., metavar="ID", help="Row id (see `audit list`)."),
         db: str = _DB) -> None:
    """Print one decision's full record (JSON) with its hash and link."""
    from grader.audit import AuditLog

    with AuditLog(db, create=False) as log:
        r = log.get(row_id)
    print_json({"id": r.id, "created": r.created, "decision": r.decision,
                "prev_hash": r.prev_hash, "hash": r.hash, "record": json.loads(r.record_text)})


@audit_app.command("verify")
def verify(db: str = _DB,
           as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
           ) -> None:
    """Recompute the hash chain: exit 0 when intact, 1 naming every edited or deleted row."""
    from grader.audit import AuditLog

    with AuditLog(db, create=False) as log:
        v = log.verify()
    if as_json:
        print_json({"ok": v.ok, "rows": v.rows, "head_hash": v.head_hash,
                    "problems": [{"row": row, "problem": msg} for row, msg in v.problems]})
    elif v.ok:
        out.print(f"ok: {v.rows} row(s), chain intact, head {v.head_hash}", markup=False)
    else:
        for row, msg in v.problems:
            where = f"row {row}" if row is not None else "log"
            out.print(f"TAMPERED {where}: {msg}", markup=False)
        err.print(f"{db}: the audit log's chain is broken at {len(v.problems)} place(s); "
                  "restore it from a backup.", markup=False)
    if not v.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")

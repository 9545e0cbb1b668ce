"""`deploysim sessions | show | derive`: list the sessions of a corpus, read one, re-derive."""

from __future__ import annotations

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import out, print_json


def sessions(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Cassette files, folders, globs or URLs."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, one object per "
                                 "session (id, segment, model, turns, tool_calls, tools, ...)."),
) -> None:
    """List sessions: id, segment, model, turns, tool calls (derived on the fly if none are
    stored)."""
    from recorder.corpus import Corpus
    from recorder.session_view import session_row
    from recorder.sessions_of import sessions_of

    rows = [session_row(s) for s in sessions_of(Corpus(corpus))]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "segment", "model", "turns", "tool calls", "source")
    for r in rows:
        table.add_row(r["id"], r["segment"] or "-", r["model"] or "-", str(r["turns"]),
                      str(r["tool_calls"]), r["source"])
    out.print(table)
    out.print(f"{len(rows)} session(s), {sum(r['turns'] for r in rows)} turns, "
              f"{sum(r['tool_calls'] for r in rows)} tool calls")


_STYLES = {"role": "bold cyan", "text": "", "thinking": "dim italic", "tool_call": "magenta",
           "tool_result": "green", "error": "red", "meta": "dim"}


def show(
    corpus: str = typer.Argument(..., metavar="CORPUS",
                                 help="A cassette file, folder, glob or URL."),
    session_id: str = typer.Argument(..., metavar="SESSION",
                                     help="The session id (or a unique prefix of it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the session record as JSON."),
) -> None:
    """Show one session as a conversation: roles, tool calls and results, timings, and
    redaction markers."""
    from recorder.corpus import Corpus
    from recorder.errors import UsageError
    from recorder.session_view import REDACTION_MARK, render
    from recorder.sessions_of import sessions_of

    c = Corpus(corpus)
    found = [s for s in sessions_of(c) if s.id == session_id]
    if not found:
        found = [s for s in sessions_of(c) if s.id.startswith(session_id)]
    if len(found) != 1:
        what = "no session" if not found else f"more than one session ({len(found)})"
        raise UsageError(f"There is {what} with id {session_id!r} in {corpus}; list the ids "
                         f"with `deploysim sessions {corpus}`.")
    session = found[0]
    if as_json:
        print_json(session.model_dump(mode="json"))
        return
    wanted_ids = set(session.source.exchange_ids)
    exchanges = {e.id: e for e in c.exchanges() if e.id in wanted_ids} if wanted_ids else {}
    from rich.text import Text

    for line in render(session, exchanges):
        text = Text(line.text, style=_STYLES.get(line.style, ""))
        text.highlight_regex(REDACTION_MARK.pattern, "reverse")  # redaction markers stand out
        out.print(text)


def derive(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Cassette files, folders, globs or URLs."),
    out_dir: str = typer.Option(..., "--out", "-o", metavar="DIR",
                                help="Folder for the new cassette."),
    redact_rules: str | None = typer.Option(None, "--redact-rules", metavar="PATH",
                                            help="TOML file of extra redaction rules."),
    no_redact: bool = typer.Option(False, "--no-redact", help="Do not redact the derived "
                                   "sessions (the exchanges are copied as they are)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON: "
                                 "path and counts of exchanges, sessions, annotations, "
                                 "exchanges_with_problems."),
) -> None:
    """Re-derive sessions from the raw exchanges into a new cassette: the exchanges (with any
    parse problems attached), fresh sessions, and the annotations."""
    from deploysim.outputs import check_out_dir
    from recorder.rederive import rederive

    check_out_dir(out_dir)
    path, report = rederive(corpus, out_dir, rules_file=redact_rules, redact=not no_redact)
    if as_json:
        print_json({"path": path, **report})
        return
    out.print(f"wrote {report['exchanges']} exchange(s) and {report['sessions']} session(s) "
              f"to {path}")
    if report["exchanges_with_problems"]:
        out.print(f"{report['exchanges_with_problems']} exchange(s) have parse problems "
                  "(see `deploysim inspect`)")


def register(app: typer.Typer) -> None:
    app.command("sessions", epilog=exit_codes({0: "listed"}))(sessions)
    app.command("show", epilog=exit_codes({0: "shown"}))(show)
    app.command("derive", epilog=exit_codes({0: "written"}))(derive)

"""`deploysim inspect | verify | cassette repair`: look at and look after cassettes."""

from __future__ import annotations

import typer

from deploysim.console import err, out, print_json

cassette_app = typer.Typer(help="Look after cassette files.", no_args_is_help=True)


def inspect(
    corpus: list[str] = typer.Argument(..., help="Cassette files, folders, globs or URLs."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a corpus: records by kind, sessions, turns, tool calls, time range, problems."""
    from recorder.corpus import Corpus
    from recorder.summary import summarize

    summary = summarize(Corpus(corpus))
    if as_json:
        print_json(summary)
        return
    from rich.table import Table

    out.print(f"[bold]{summary['cassettes']}[/] cassette(s), "
              f"{sum(summary['records'].values())} records")
    for kind, n in summary["records"].items():
        out.print(f"  {kind:<11} {n}")
    out.print(f"sessions {summary['sessions']}  turns {summary['turns']}  "
              f"tool calls {summary['tool_calls']}")
    if summary["exchanges_with_parse_problems"]:
        out.print(f"exchanges with parse problems: {summary['exchanges_with_parse_problems']}")
    if summary["time_range"]:
        import datetime as dt

        a, b = (dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")
                for t in summary["time_range"])
        out.print(f"time range {a} .. {b}")
    if summary["tools"]:
        table = Table("tool", "calls")
        for name, n in summary["tools"].items():
            table.add_row(name, str(n))
        out.print(table)
    for p in summary["problems"]:
        out.print(f"[yellow]problem[/] {p['path']} at byte {p['offset']}: {p['message']}")
    for run in summary["recording_runs"]:
        mark = "complete" if run["ok"] else "[yellow]incomplete[/]"
        out.print(f"recording {run['run_id']} {mark}: {run['message']}")


def verify(
    corpus: list[str] = typer.Argument(..., help="Cassette files, folders, globs or URLs."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Exit 0 when every cassette is intact and every recording is complete by its ledger;
    1 with a per-file and per-run report otherwise."""
    from recorder.completeness import check_corpus

    report = check_corpus(corpus)
    if as_json:
        print_json(report.to_dict())
        if not report.ok:
            raise typer.Exit(1)
        return
    damaged = 0
    for f in report.files:
        if f.problems:
            damaged += 1
            out.print(f"[red]DAMAGED[/] {f.path}: {f.records} intact records, "
                      f"{len(f.problems)} problem(s)")
            for p in f.problems:
                out.print(f"  at byte {p.offset}: {p.kind}: {p.message}")
        else:
            out.print(f"[green]ok[/] {f.path}: {f.records} records")
    for run in report.runs:
        mark = "[green]complete[/]" if run.ok else "[red]INCOMPLETE[/]"
        out.print(f"{mark} recording {run.run_id}: {run.message}")
    if damaged:
        err.print(f"{damaged} damaged cassette(s); `deploysim cassette repair IN OUT` copies every "
                  "intact record into a new cassette.")
    incomplete = sum(not r.ok for r in report.runs)
    if incomplete:
        err.print(f"{incomplete} incomplete recording(s): the corpus misses traffic the proxy "
                  "saw, so rates computed from it may be biased; see docs/recording-proxy.md "
                  "(\"Completeness\").")
    if not report.ok:
        raise typer.Exit(1)


@cassette_app.command("repair")
def repair(
    src: str = typer.Argument(..., help="The damaged cassette."),
    dst: str = typer.Argument(..., help="Where to write the repaired copy (must not exist)."),
) -> None:
    """Copy every intact record of IN into a new cassette OUT and say what was dropped."""
    from deploysim.outputs import check_out_file
    from recorder import storage
    from recorder.errors import UsageError
    from recorder.repair import repair as do_repair

    if storage.exists(dst):
        raise UsageError(f"{dst} already exists; give a new path so nothing is overwritten.")
    check_out_file(dst, option="OUT")
    copied, problems = do_repair(src, dst)
    out.print(f"copied {copied} intact record(s) from {src} to {dst}")
    for p in problems:
        out.print(f"dropped at byte {p.offset}: {p.kind}: {p.message}")
    if not problems:
        out.print("nothing was damaged; the copy is complete")


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("verify")(verify)
    app.add_typer(cassette_app, name="cassette")

"""`deploysim inspect | verify | cassette repair | dump | load`: look at and look after
cassettes."""

from __future__ import annotations

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import err, out, print_json

cassette_app = typer.Typer(help="Look after cassette files.", no_args_is_help=True)


def inspect(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Cassette files, folders, globs or URLs."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a corpus: records by kind, sessions, turns, tool calls, time range, problems."""
    from recorder.corpus import Corpus
    from recorder.corpus_summary import summarize

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
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Cassette files, folders, globs or URLs."),
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
        err.print(f"{damaged} damaged cassette(s); `deploysim cassette repair CASSETTE --out "
                  "NEW` copies every intact record into a new cassette.")
    incomplete = sum(not r.ok for r in report.runs)
    if incomplete:
        err.print(f"{incomplete} incomplete recording(s): the corpus misses traffic the proxy "
                  "saw, so rates computed from it may be biased; see docs/recording-proxy.md "
                  "(\"Completeness\").")
    if not report.ok:
        raise typer.Exit(1)


@cassette_app.command("repair", epilog=exit_codes({0: "copied (what was dropped is listed)"}))
def repair(
    src: str = typer.Argument(..., metavar="CASSETTE", help="The damaged cassette."),
    dst: str = typer.Option(..., "--out", "-o", metavar="PATH",
                            help="Where to write the repaired copy (must not exist)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON: source, "
                                 "path, copied, dropped (offset, kind, message each)."),
) -> None:
    """Copy every intact record of CASSETTE into a new cassette and say what was dropped."""
    from deploysim.outputs import check_out_file
    from recorder import storage
    from recorder.errors import UsageError
    from recorder.repair import repair as do_repair

    if storage.exists(dst):
        raise UsageError(f"{dst} already exists; give a new path so nothing is overwritten.")
    check_out_file(dst, option="--out")
    copied, problems = do_repair(src, dst)
    if as_json:
        print_json({"source": src, "path": dst, "copied": copied,
                    "dropped": [{"offset": p.offset, "kind": p.kind, "message": p.message}
                                for p in problems]})
        return
    out.print(f"copied {copied} intact record(s) from {src} to {dst}")
    for p in problems:
        out.print(f"dropped at byte {p.offset}: {p.kind}: {p.message}")
    if not problems:
        out.print("nothing was damaged; the copy is complete")


_JSONL = typer.Option(True, "--jsonl", show_default=False,
                      help="JSON lines, one record per line (the one text form today; say it "
                      "so a script keeps working if others are added).")


@cassette_app.command("dump", epilog=exit_codes(
    {0: "dumped", 1: "the cassette is damaged: its intact records were dumped and the damage "
     "is named (`deploysim cassette repair` salvages it)"}))
def dump(
    cassette: str = typer.Argument(..., metavar="CASSETTE", help="The cassette to dump."),
    jsonl: bool = _JSONL,
    out_path: str | None = typer.Option(None, "--out", "-o", metavar="PATH",
                                        help="Write the lines here (default: stdout)."),
) -> None:
    """Print a cassette as text that diffs in a pull request: one JSON object per record,
    header first, keys in a stable order, bodies as text (JSON bodies as JSON) when they are
    UTF-8 and base64 otherwise. `deploysim cassette load` turns it back into the same bytes."""
    import sys

    from deploysim.cassette_jsonl import dump_lines

    lines, reader = dump_lines(cassette)
    if out_path is None:
        try:
            for line in lines:
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted; not a failure
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
    else:
        from deploysim.outputs import check_out_file
        from recorder import storage

        check_out_file(out_path, option="--out")
        with storage.open_binary(out_path, "wb") as f:
            for line in lines:
                f.write(line.encode("utf-8") + b"\n")
    for p in reader.problems:
        err.print(f"{cassette}: damaged at byte {p.offset}: {p.kind}: {p.message}",
                  markup=False)
    if reader.problems:
        err.print(f"{cassette} is damaged, so the dump holds only its intact records; `deploysim "
                  "cassette repair` salvages them into a new cassette.", markup=False)
        raise typer.Exit(1)


@cassette_app.command("load", epilog=exit_codes(
    {0: "written", 2: "a line is not a record (its number is named) or --out exists"}))
def load(
    source: str = typer.Argument(..., metavar="DUMP",
                                 help="JSON lines from `deploysim cassette dump` (- for stdin)."),
    out_path: str = typer.Option(..., "--out", "-o", metavar="PATH",
                                 help="The cassette to write (must not exist)."),
    jsonl: bool = _JSONL,
) -> None:
    """Turn a dump back into a cassette, byte for byte the one dumped (when it was intact)."""
    import sys

    from deploysim.cassette_jsonl import load_lines
    from deploysim.outputs import check_out_file
    from recorder import storage
    from recorder.errors import CorpusNotFound, UsageError

    if storage.exists(out_path):
        raise UsageError(f"{out_path} already exists; give a new path so nothing is "
                         "overwritten.")
    check_out_file(out_path, option="--out")
    if source == "-":
        n = load_lines(sys.stdin, "stdin", out_path)
    else:
        if not storage.exists(source):
            raise CorpusNotFound(f"The dump {source} does not exist; check the path.")
        with storage.open_binary(source, "rb") as f:
            try:
                n = load_lines((raw.decode("utf-8") for raw in f), source, out_path)
            except UnicodeDecodeError:
                raise UsageError(f"{source} is not UTF-8 text; give the output of `deploysim "
                                 "cassette dump`.") from None
    out.print(f"wrote {n} record(s) to {out_path}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("inspect", epilog=exit_codes(
        {0: "summarised (problems found are listed, not failed on; see verify)"}))(inspect)
    app.command("verify", epilog=exit_codes(
        {0: "every cassette intact and every recording complete",
         1: "a damaged cassette or an incomplete recording (each is named)"}))(verify)
    app.add_typer(cassette_app, name="cassette")

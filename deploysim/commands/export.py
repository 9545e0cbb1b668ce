"""`deploysim export otel|jsonl CORPUS_OR_RUN --out FILE`: sessions and verdicts → other tools."""

from __future__ import annotations

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import out, print_json

export_app = typer.Typer(help="Export sessions (a corpus or a run) with their verdicts.",
                         no_args_is_help=True)

_SOURCE = typer.Argument(..., metavar="RUN_OR_CORPUS",
                         help="A corpus (folder, cassette, glob) or a run folder; verdict "
                         "files beside it are exported with the sessions.")
_OUT = typer.Option(..., "--out", "-o", metavar="PATH", help="The file to write (must not "
                    "exist).")
_JSON = typer.Option(False, "--json", help="Print what was written as JSON: path, sessions, "
                     "annotations.")
_EXITS = exit_codes({0: "exported"})


def _run(kind: str, source: list[str], out_file: str, as_json: bool) -> None:
    from deploysim.outputs import check_out_file
    from recorder.exporters import export

    check_out_file(out_file, option="--out")
    summary = export(kind, source, out_file)
    if as_json:
        print_json({"path": summary.path, "sessions": summary.sessions,
                    "annotations": summary.annotations})
        return
    out.print(f"exported {summary.sessions} session(s) and {summary.annotations} "
              f"annotation(s) to {summary.path}")


@export_app.command("otel", epilog=_EXITS)
def otel(source: list[str] = _SOURCE, out_file: str = _OUT, as_json: bool = _JSON) -> None:
    """OpenTelemetry GenAI spans (OTLP JSON, one trace per line), verdicts as span events."""
    _run("otel", source, out_file, as_json)


@export_app.command("jsonl", epilog=_EXITS)
def jsonl(source: list[str] = _SOURCE, out_file: str = _OUT, as_json: bool = _JSON) -> None:
    """OpenAI chat JSONL, one session per line (the `import openai-jsonl` format)."""
    _run("jsonl", source, out_file, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")

"""`deploysim import openai-jsonl | otel FILE --out DIR`: existing logs → redacted sessions."""

from __future__ import annotations

import typer

from deploysim.console import err, out

import_app = typer.Typer(help="Import existing logs as sessions (redacted before writing).",
                         no_args_is_help=True)

_RULES = typer.Option(None, "--rules", help="Extra redaction rules (TOML).")
_OUT = typer.Option(..., "--out", help="Folder for the new cassette (FILE's name + .cassette).")


def _run(kind: str, file: str, out_dir: str, rules: str | None) -> None:
    from deploysim.outputs import check_out_dir
    from recorder.importers.write import import_file

    check_out_dir(out_dir)
    path, result = import_file(kind, file, out_dir, rules_file=rules)
    out.print(f"imported {len(result.sessions)} session(s) from {file} to {path}")
    for p in result.problems[:20]:
        err.print(f"skipped: {p}", markup=False)
    if len(result.problems) > 20:
        err.print(f"... and {len(result.problems) - 20} more problem(s)", markup=False)


@import_app.command("openai-jsonl")
def openai_jsonl(
    file: str = typer.Argument(..., help="JSONL file, one conversation per line (`messages`, "
                               "optional `tools`, `metadata`, `id`)."),
    out_dir: str = _OUT,
    rules: str = _RULES,
) -> None:
    """Import OpenAI chat-format conversations (one per line)."""
    _run("openai-jsonl", file, out_dir, rules)


@import_app.command("otel")
def otel(
    file: str = typer.Argument(..., help="OTLP JSON trace export with GenAI spans."),
    out_dir: str = _OUT,
    rules: str = _RULES,
) -> None:
    """Import OpenTelemetry GenAI semantic-convention spans (OTLP JSON)."""
    _run("otel", file, out_dir, rules)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")

"""`deploysim import FORMAT FILE... --out DIR`: existing logs → redacted sessions."""

from __future__ import annotations

from typing import Any

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import err, out, print_json

import_app = typer.Typer(help="Import existing logs as sessions (redacted before writing).",
                         no_args_is_help=True)

_RULES = typer.Option(None, "--redact-rules", metavar="PATH",
                      help="TOML file of extra redaction rules (defaults always on).")
_OUT = typer.Option(..., "--out", "-o", metavar="DIR", help="Folder for the new cassettes (one "
                    "per FILE: its name + .cassette).")
_JSON = typer.Option(False, "--json", help="Print one JSON object per FILE: file, path, "
                     "sessions, unmapped, problems.")
_EXITS = exit_codes({0: "imported (what could not be mapped is listed and skipped)",
                     2: "a file cannot be read, or with --strict holds something that cannot be "
                        "mapped"})
_STRICT = typer.Option(False, "--strict", help="Refuse a file holding anything that cannot be "
                       "mapped (exit 2) instead of skipping and listing it.")


_SEGMENT = typer.Option(None, "--segment-attribute", metavar="NAME",
                        help="Span (or resource) attribute whose value becomes each "
                        "session's `segment` label; `metadata.KEY` looks inside a JSON "
                        "`metadata` attribute.")


def _files(help: str) -> Any:
    return typer.Argument(..., metavar="FILE", help=help)


def _run(kind: str, files: list[str], out_dir: str, rules: str | None,
         strict: bool = False, options: dict[str, object] | None = None,
         as_json: bool = False) -> None:
    from deploysim.outputs import check_out_dir
    from recorder.importers.write import import_file

    check_out_dir(out_dir)
    imported: list[dict[str, object]] = []
    for file in files:
        path, result = import_file(kind, file, out_dir, rules_file=rules, strict=strict,
                                   options=options)
        if as_json:
            imported.append({"file": file, "path": path, "sessions": len(result.sessions),
                             "unmapped": result.unmapped_summary(),
                             "problems": [str(p) for p in result.problems]})
            continue
        out.print(f"imported {len(result.sessions)} session(s) from {file} to {path}")
        for line in result.unmapped_summary():
            err.print(f"not mapped in {file}: {line}", markup=False)
        for p in result.problems[:20]:
            err.print(f"skipped: {p}", markup=False)
        if len(result.problems) > 20:
            err.print(f"... and {len(result.problems) - 20} more problem(s)", markup=False)
    if as_json:
        print_json(imported)


@import_app.command("openai-jsonl", epilog=_EXITS)
def openai_jsonl(
    files: list[str] = _files("JSONL files, one conversation per line "
                                      "(`messages`, optional `tools`, `metadata`, `id`)."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    as_json: bool = _JSON,
) -> None:
    """Import OpenAI chat-format conversations (one per line)."""
    _run("openai-jsonl", files, out_dir, redact_rules, strict, as_json=as_json)


@import_app.command("otel", epilog=_EXITS)
def otel(
    files: list[str] = _files("OTLP trace exports with GenAI spans: JSON (one "
                                      "document, or one per line) or protobuf."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    segment: str = _SEGMENT,
    as_json: bool = _JSON,
) -> None:
    """Import OpenTelemetry GenAI semantic-convention spans (OTLP JSON or protobuf)."""
    _run("otel", files, out_dir, redact_rules, strict, {"segment_attribute": segment},
         as_json=as_json)


@import_app.command("openinference", epilog=_EXITS)
def openinference(
    files: list[str] = _files("OpenInference spans (Phoenix, Arize): OTLP "
                                      "JSON or protobuf, or one span per line."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    segment: str = _SEGMENT,
    as_json: bool = _JSON,
) -> None:
    """Import OpenInference LLM and TOOL spans (Phoenix / Arize traces)."""
    _run("openinference", files, out_dir, redact_rules, strict, {"segment_attribute": segment},
         as_json=as_json)


@import_app.command("langfuse", epilog=_EXITS)
def langfuse(
    files: list[str] = _files("Langfuse observations JSONL, or the public "
                                      "API's trace JSON (traces with `observations`)."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    as_json: bool = _JSON,
) -> None:
    """Import Langfuse exports (GENERATION observations threaded per session)."""
    _run("langfuse", files, out_dir, redact_rules, strict, as_json=as_json)


@import_app.command("langsmith", epilog=_EXITS)
def langsmith(
    files: list[str] = _files("LangSmith runs: JSONL, a JSON array, or run "
                                      "trees with `child_runs`."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    as_json: bool = _JSON,
) -> None:
    """Import LangSmith run exports (llm runs threaded per thread or trace)."""
    _run("langsmith", files, out_dir, redact_rules, strict, as_json=as_json)


@import_app.command("inspect", epilog=_EXITS)
def inspect_log(
    files: list[str] = _files("Inspect AI logs (.eval or .json)."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    as_json: bool = _JSON,
) -> None:
    """Import Inspect AI evaluation logs (one session per sample and epoch)."""
    _run("inspect", files, out_dir, redact_rules, strict, as_json=as_json)


@import_app.command("anthropic-jsonl", epilog=_EXITS)
def anthropic_jsonl(
    files: list[str] = _files("JSONL of `{request, response}` pairs or "
                                      "Message Batches request/result lines."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    as_json: bool = _JSON,
) -> None:
    """Import Anthropic Messages API calls (threaded into conversations)."""
    _run("anthropic-jsonl", files, out_dir, redact_rules, strict, as_json=as_json)


@import_app.command("openai-responses", epilog=_EXITS)
def openai_responses(
    files: list[str] = _files("Stored Responses API objects (with their "
                                      "input items), one per line or a JSON array."),
    out_dir: str = _OUT,
    redact_rules: str | None = _RULES,
    strict: bool = _STRICT,
    as_json: bool = _JSON,
) -> None:
    """Import stored OpenAI Responses, chained by previous_response_id."""
    _run("openai-responses", files, out_dir, redact_rules, strict, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")

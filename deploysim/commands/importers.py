"""`deploysim import FORMAT FILE... --out DIR`: existing logs → redacted sessions."""

from __future__ import annotations

import typer

from deploysim.console import err, out

import_app = typer.Typer(help="Import existing logs as sessions (redacted before writing).",
                         no_args_is_help=True)

_RULES = typer.Option(None, "--rules", help="Extra redaction rules (TOML).")
_OUT = typer.Option(..., "--out", help="Folder for the new cassettes (one per FILE: its name "
                    "+ .cassette).")
_STRICT = typer.Option(False, "--strict", help="Refuse a file holding anything that cannot be "
                       "mapped (exit 2) instead of skipping and listing it.")


_SEGMENT = typer.Option(None, "--segment-attribute", help="Span (or resource) attribute whose "
                        "value becomes each session's `segment` label; `metadata.KEY` looks "
                        "inside a JSON `metadata` attribute.")


def _run(kind: str, files: list[str], out_dir: str, rules: str | None,
         strict: bool = False, options: dict[str, object] | None = None) -> None:
    from deploysim.outputs import check_out_dir
    from recorder.importers.write import import_file

    check_out_dir(out_dir)
    for file in files:
        path, result = import_file(kind, file, out_dir, rules_file=rules, strict=strict,
                                   options=options)
        out.print(f"imported {len(result.sessions)} session(s) from {file} to {path}")
        for line in result.unmapped_summary():
            err.print(f"not mapped in {file}: {line}", markup=False)
        for p in result.problems[:20]:
            err.print(f"skipped: {p}", markup=False)
        if len(result.problems) > 20:
            err.print(f"... and {len(result.problems) - 20} more problem(s)", markup=False)


@import_app.command("openai-jsonl")
def openai_jsonl(
    files: list[str] = typer.Argument(..., help="JSONL files, one conversation per line "
                                      "(`messages`, optional `tools`, `metadata`, `id`)."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
) -> None:
    """Import OpenAI chat-format conversations (one per line)."""
    _run("openai-jsonl", files, out_dir, rules, strict)


@import_app.command("otel")
def otel(
    files: list[str] = typer.Argument(..., help="OTLP trace exports with GenAI spans: JSON (one "
                                      "document, or one per line) or protobuf."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
    segment: str = _SEGMENT,
) -> None:
    """Import OpenTelemetry GenAI semantic-convention spans (OTLP JSON or protobuf)."""
    _run("otel", files, out_dir, rules, strict, {"segment_attribute": segment})


@import_app.command("openinference")
def openinference(
    files: list[str] = typer.Argument(..., help="OpenInference spans (Phoenix, Arize): OTLP "
                                      "JSON or protobuf, or one span per line."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
    segment: str = _SEGMENT,
) -> None:
    """Import OpenInference LLM and TOOL spans (Phoenix / Arize traces)."""
    _run("openinference", files, out_dir, rules, strict, {"segment_attribute": segment})


@import_app.command("langfuse")
def langfuse(
    files: list[str] = typer.Argument(..., help="Langfuse observations JSONL, or the public "
                                      "API's trace JSON (traces with `observations`)."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
) -> None:
    """Import Langfuse exports (GENERATION observations threaded per session)."""
    _run("langfuse", files, out_dir, rules, strict)


@import_app.command("langsmith")
def langsmith(
    files: list[str] = typer.Argument(..., help="LangSmith runs: JSONL, a JSON array, or run "
                                      "trees with `child_runs`."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
) -> None:
    """Import LangSmith run exports (llm runs threaded per thread or trace)."""
    _run("langsmith", files, out_dir, rules, strict)


@import_app.command("inspect")
def inspect_log(
    files: list[str] = typer.Argument(..., help="Inspect AI logs (.eval or .json)."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
) -> None:
    """Import Inspect AI evaluation logs (one session per sample and epoch)."""
    _run("inspect", files, out_dir, rules, strict)


@import_app.command("anthropic-jsonl")
def anthropic_jsonl(
    files: list[str] = typer.Argument(..., help="JSONL of `{request, response}` pairs or "
                                      "Message Batches request/result lines."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
) -> None:
    """Import Anthropic Messages API calls (threaded into conversations)."""
    _run("anthropic-jsonl", files, out_dir, rules, strict)


@import_app.command("openai-responses")
def openai_responses(
    files: list[str] = typer.Argument(..., help="Stored Responses API objects (with their "
                                      "input items), one per line or a JSON array."),
    out_dir: str = _OUT,
    rules: str = _RULES,
    strict: bool = _STRICT,
) -> None:
    """Import stored OpenAI Responses, chained by previous_response_id."""
    _run("openai-responses", files, out_dir, rules, strict)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")

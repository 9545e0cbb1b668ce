"""`deploysim import FORMAT FILE... --out DIR`: existing logs → redacted sessions."""

from __future__ import annotations

from collections.abc import Callable
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


def _register(kind: str, files_help: str, summary: str, segment: bool) -> None:
    """`deploysim import KIND`: the same options for every format, and `--segment-attribute`
    for the span formats, whose attributes can carry a segment."""
    command: Callable[..., None]
    if segment:
        def with_segment(files: list[str] = _files(files_help), out_dir: str = _OUT,
                         redact_rules: str | None = _RULES, strict: bool = _STRICT,
                         segment: str = _SEGMENT, as_json: bool = _JSON) -> None:
            _run(kind, files, out_dir, redact_rules, strict, {"segment_attribute": segment},
                 as_json=as_json)

        command = with_segment
    else:
        def plain(files: list[str] = _files(files_help), out_dir: str = _OUT,
                  redact_rules: str | None = _RULES, strict: bool = _STRICT,
                  as_json: bool = _JSON) -> None:
            _run(kind, files, out_dir, redact_rules, strict, as_json=as_json)

        command = plain
    command.__doc__ = summary
    import_app.command(kind, epilog=_EXITS)(command)


FORMATS: list[tuple[str, str, str, bool]] = [
    ("openai-jsonl",
     "JSONL files, one conversation per line (`messages`, optional `tools`, `metadata`, `id`).",
     "Import OpenAI chat-format conversations (one per line).",
     False),
    ("otel",
     "OTLP trace exports with GenAI spans: JSON (one document, or one per line) or protobuf.",
     "Import OpenTelemetry GenAI semantic-convention spans (OTLP JSON or protobuf).",
     True),
    ("openinference",
     "OpenInference spans (Phoenix, Arize): OTLP JSON or protobuf, or one span per line.",
     "Import OpenInference LLM and TOOL spans (Phoenix / Arize traces).",
     True),
    ("langfuse",
     "Langfuse observations JSONL, or the public API's trace JSON (traces with `observations`).",
     "Import Langfuse exports (GENERATION observations threaded per session).",
     False),
    ("langsmith",
     "LangSmith runs: JSONL, a JSON array, or run trees with `child_runs`.",
     "Import LangSmith run exports (llm runs threaded per thread or trace).",
     False),
    ("inspect",
     "Inspect AI logs (.eval or .json).",
     "Import Inspect AI evaluation logs (one session per sample and epoch).",
     False),
    ("anthropic-jsonl",
     "JSONL of `{request, response}` pairs or Message Batches request/result lines.",
     "Import Anthropic Messages API calls (threaded into conversations).",
     False),
    ("openai-responses",
     "Stored Responses API objects (with their input items), one per line or a JSON array.",
     "Import stored OpenAI Responses, chained by previous_response_id.",
     False),
]
"""(format, what FILE holds, the command's summary, whether spans may carry a segment)."""
for _format in FORMATS:
    _register(*_format)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")

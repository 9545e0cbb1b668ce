"""Importers: existing logs → sessions, without recording. Each importer is a function
`(path) -> ImportResult` registered in `IMPORTERS` under its CLI name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.annotation import Annotation
from recorder.session import Session


@dataclass
class ImportResult:
    """Sessions read from a file, and the lines/spans that could not be used."""

    sessions: list[Session] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One sentence per skipped item, naming where it is (line N, span X)."""
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    """What the file holds that has no place in a session (`image input`, `RETRIEVER
    observation`) → where each one was (`line 4`): counted and named, never dropped silently
    (`--strict` refuses the file instead)."""
    annotations: list[Annotation] = field(default_factory=list)
    """Labels or scores the source attached to sessions (written after them, redacted)."""

    def unmapped_item(self, what: str, where: str) -> None:
        """Note one thing that could not be mapped, and where it was."""
        self.unmapped.setdefault(what, []).append(where)

    def unmapped_summary(self) -> list[str]:
        """One line per kind: `3 × image input (line 2, line 5, line 9)`."""
        out = []
        for what, where in self.unmapped.items():
            shown = ", ".join(where[:5]) + (f", ... {len(where) - 5} more" if len(where) > 5
                                             else "")
            out.append(f"{len(where)} × {what} ({shown})")
        return out


Importer = Callable[..., ImportResult]
"""`importer(path, **options) -> ImportResult`; options are keyword-only and the importer's
own (the `otel` and `openinference` importers take `segment_attribute`)."""


def _registry() -> dict[str, Importer]:
    from recorder.importers.openai_jsonl import import_openai_jsonl
    from recorder.importers.openinference import import_openinference
    from recorder.importers.otel import import_otel

    return {"openai-jsonl": import_openai_jsonl, "otel": import_otel,
            "openinference": import_openinference, **_trace_stores()}


def _trace_stores() -> dict[str, Importer]:
    """Importers for trace stores and provider logs (each threads its model calls)."""
    from recorder.importers.anthropic_jsonl import import_anthropic_jsonl
    from recorder.importers.inspect_log import import_inspect
    from recorder.importers.langfuse import import_langfuse
    from recorder.importers.langsmith import import_langsmith
    from recorder.importers.openai_responses import import_openai_responses

    return {"langfuse": import_langfuse, "langsmith": import_langsmith,
            "inspect": import_inspect, "anthropic-jsonl": import_anthropic_jsonl,
            "openai-responses": import_openai_responses}


def importers() -> dict[str, Importer]:
    """Every importer by its CLI name."""
    return _registry()

"""Importers: existing logs → sessions, without recording. Each importer is a function
`(path) -> ImportResult` registered in `IMPORTERS` under its CLI name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.session import Session


@dataclass
class ImportResult:
    """Sessions read from a file, and the lines/spans that could not be used."""

    sessions: list[Session] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One sentence per skipped item, naming where it is (line N, span X)."""


Importer = Callable[[str], ImportResult]


def _registry() -> dict[str, Importer]:
    from recorder.importers.openai_jsonl import import_openai_jsonl
    from recorder.importers.otel import import_otel

    return {"openai-jsonl": import_openai_jsonl, "otel": import_otel}


def importers() -> dict[str, Importer]:
    """Every importer by its CLI name."""
    return _registry()

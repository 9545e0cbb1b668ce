"""Run an importer and write its (redacted) sessions to a new cassette."""

from __future__ import annotations

import os

from recorder.errors import UsageError
from recorder.importers import ImportResult, importers
from recorder.redact import Redactor
from recorder.rederive import output_path
from recorder.writer import CassetteWriter


def import_file(kind: str, file: str, out_dir: str, *,
                rules_file: str | None = None) -> tuple[str, ImportResult]:
    """Import `file` with importer `kind` into `out_dir/<file stem>.cassette`."""
    registry = importers()
    if kind not in registry:
        raise UsageError(f"There is no importer named {kind!r}; choose one of "
                         f"{', '.join(registry)}.")
    result = registry[kind](file)
    if not result.sessions:
        first = f" (first problem: {result.problems[0]})" if result.problems else ""
        raise UsageError(f"{file} holds no usable conversation for the {kind} importer{first}; "
                         "check the file's format (see docs/recording.md).")
    stem = os.path.splitext(os.path.basename(file))[0] or "import"
    path = output_path(out_dir, f"{stem}.cassette")
    redactor = Redactor.from_config(rules_file, corpus=out_dir)
    with CassetteWriter(path, producer=f"deploysim import {kind}",
                        redaction_policy=redactor.policy_id,
                        meta={"importer": kind, "source": os.path.basename(file)}) as w:
        for s in result.sessions:
            w.write(redactor.redact_session(s))
    return path, result

"""Run an importer and write its (redacted) sessions to a new cassette."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from recorder.errors import UsageError
from recorder.importers import ImportResult, importers
from recorder.redact import Redactor
from recorder.rederive import output_path
from recorder.writer import CassetteWriter


def import_file(kind: str, file: str, out_dir: str, *, rules_file: str | None = None,
                strict: bool = False, options: Mapping[str, Any] | None = None,
                ) -> tuple[str, ImportResult]:
    """Import `file` with importer `kind` into `out_dir/<file stem>.cassette`; with `strict`,
    a file with unmapped parts or skipped items is refused (nothing is written). `options`
    are the importer's own keyword options (`segment_attribute` for `otel`)."""
    registry = importers()
    if kind not in registry:
        raise UsageError(f"There is no importer named {kind!r}; choose one of "
                         f"{', '.join(registry)}.")
    result = registry[kind](file, **(options or {}))
    if strict and (result.unmapped or result.problems):
        lost = result.unmapped_summary() + result.problems
        raise UsageError(f"{file} holds {len(lost)} kind(s) of content the {kind} importer "
                         f"cannot map (first: {lost[0]}); import it without --strict to skip "
                         "them (each is listed).")
    if not result.sessions:
        lost = result.problems + result.unmapped_summary()
        first = f" (first problem: {lost[0]})" if lost else ""
        raise UsageError(f"{file} holds no usable conversation for the {kind} importer{first}; "
                         "check the file's format (see docs/importing.md).")
    stem = os.path.splitext(os.path.basename(file))[0] or "import"
    path = output_path(out_dir, f"{stem}.cassette")
    redactor = Redactor.from_config(rules_file, corpus=out_dir)
    with CassetteWriter(path, producer=f"deploysim import {kind}",
                        redaction_policy=redactor.policy_id,
                        meta={"importer": kind, "source": os.path.basename(file)}) as w:
        for s in result.sessions:
            w.write(redactor.redact_session(s))
        for a in result.annotations:
            # the same key redacts the session id the same way, so the link survives
            w.write(a.model_copy(update={"session_id": redactor.redact_text(a.session_id),
                                         "value": redactor.redact_json(a.value),
                                         "data": redactor.redact_json(a.data)}))
    return path, result

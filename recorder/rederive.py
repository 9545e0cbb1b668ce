"""Re-derive a corpus: copy its exchanges (parse problems attached) and annotations into a
new cassette with freshly derived sessions, e.g. after a parser improved."""

from __future__ import annotations

import os
from typing import Any

from recorder import storage
from recorder.corpus import Corpus
from recorder.derive import derive, with_problems
from recorder.errors import UsageError
from recorder.redact import Redactor
from recorder.writer import CassetteWriter

OUT_NAME = "derived.cassette"


def output_path(out_dir: str, name: str) -> str:
    """`out_dir/name`, refusing to overwrite (UsageError)."""
    path = os.path.join(out_dir, name) if not storage.is_url(out_dir) else (
        out_dir.rstrip("/") + "/" + name)
    if storage.exists(path):
        raise UsageError(f"{path} already exists; choose another --out folder so nothing is "
                         "overwritten.")
    return path


def rederive(corpus: str | list[str], out_dir: str, *, rules_file: str | None = None,
             redact: bool = True) -> tuple[str, dict[str, Any]]:
    """Write `out_dir/derived.cassette`; returns its path and what was written."""
    source = Corpus(corpus)
    path = output_path(out_dir, OUT_NAME)
    redactor = Redactor.from_config(rules_file) if redact else None
    exchanges = list(source.exchanges())
    policy = next((r.header.redaction_policy for r in source.readers.values()
                   if r.header is not None and r.header.redaction_policy), None)
    result = derive(exchanges)
    report = {"exchanges": len(exchanges), "sessions": len(result.sessions),
              "exchanges_with_problems": 0, "annotations": 0}
    with CassetteWriter(path, producer="deploysim derive", redaction_policy=policy,
                        meta={"derived_from": source.paths,
                              "sessions_redaction_policy":
                              redactor.policy_id if redactor else None}) as w:
        for ex in exchanges:
            ex = with_problems(ex, result.problems.get(ex.id, []))
            report["exchanges_with_problems"] += bool(ex.problems)
            w.write(ex)
        for s in result.sessions:
            w.write(redactor.redact_session(s) if redactor else s)
        for a in source.annotations():
            w.write(a)
            report["annotations"] += 1
    return path, report

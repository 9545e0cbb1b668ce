"""Re-derive a corpus: copy its exchanges (parse problems attached) and annotations into a
new cassette with freshly derived sessions, e.g. after a parser improved."""

from __future__ import annotations

import os
from typing import Any

from recorder import storage
from recorder.corpus import Corpus
from recorder.derive import Progress, SessionStream, with_problems
from recorder.errors import UsageError
from recorder.exchange import Exchange
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
             redact: bool = True, progress: Progress | None = None) -> tuple[str, dict[str, Any]]:
    """Write `out_dir/derived.cassette`; returns its path and what was written.

    Streams: the exchanges are read twice (`SessionStream`) and copied on the second read, so
    memory does not hold the corpus."""
    source = Corpus(corpus)
    path = output_path(out_dir, OUT_NAME)
    redactor = Redactor.from_config(rules_file, corpus=out_dir) if redact else None
    report = {"exchanges": 0, "sessions": 0, "exchanges_with_problems": 0, "annotations": 0}
    opened: list[CassetteWriter] = []

    def writer() -> CassetteWriter:
        # opened once the first pass has read every cassette's header (the policy is there)
        if not opened:
            policy = next((r.header.redaction_policy for r in source.readers.values()
                           if r.header is not None and r.header.redaction_policy), None)
            opened.append(CassetteWriter(
                path, producer="deploysim derive", redaction_policy=policy,
                meta={"derived_from": source.paths,
                      "sessions_redaction_policy": redactor.policy_id if redactor else None}))
        return opened[0]

    def copy(ex: Exchange) -> None:  # the second pass: problems are all known by then
        ex = with_problems(ex, stream.result.problems.get(ex.id, []))
        report["exchanges"] += 1
        report["exchanges_with_problems"] += bool(ex.problems)
        writer().write(ex)

    stream = SessionStream(source.exchanges, progress=progress, on_reread=copy)
    try:
        for s in stream:
            writer().write(redactor.redact_session(s) if redactor else s)
            report["sessions"] += 1
        w = writer()
        for a in source.annotations():
            w.write(a)
            report["annotations"] += 1
    finally:
        if opened:
            opened[0].close()
    return path, report

"""Verdict files: where a grading's verdicts go, how they are written, how they are read.

One file per rubric version, `verdicts-<rubric hash[:12]>.cassette`, beside the run or corpus
(or where `--verdicts-out` says): a cassette of annotation records. It is written to a
temporary name and moved into place at the end; when the records are the same as the file's
already there, that file is left as it is, byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from grader.errors import GraderError
from grader.rubric import Rubric
from grader.verdict import Verdict
from grader.verdict_engine import CREATED_BY
from recorder import framing, storage
from recorder.corpus import Corpus, resolve
from recorder.writer import SUFFIX, CassetteWriter
from runtime.run_manifest import is_run, read_manifest

WRITE_BATCH = 1 << 20
"""Bytes of framed verdict records gathered before one write to the file."""
VERDICTS_RE = re.compile(r"^\.?verdicts-[0-9a-f]{12}(-\d+\.partial)?\.cassette$")


def verdicts_filename(rubric: Rubric) -> str:
    """`verdicts-<hash[:12]>.cassette`: one file per rubric version."""
    return f"verdicts-{rubric.hash[:12]}{SUFFIX}"


def is_verdicts_file(path: str) -> bool:
    return VERDICTS_RE.match(os.path.basename(path)) is not None


@dataclass
class Target:
    """What is graded and where its verdicts go."""

    spec: list[str]
    paths: list[str]
    out_dir: str
    run_id: str | None = None


def resolve_target(target: str | list[str], verdicts_out: str | None = None) -> Target:
    """The session cassettes of a run or corpus (verdict files excluded) and the output folder."""
    spec = [target] if isinstance(target, str) else list(target)
    run_id = None
    if len(spec) == 1 and is_run(spec[0]):
        run_id = read_manifest(spec[0]).run_id
    paths = [p for p in resolve(spec) if not is_verdicts_file(p)]
    if not paths:
        raise GraderError(f"{', '.join(spec)} holds only verdict files, no sessions to grade; "
                          "give the run or corpus itself.")
    if verdicts_out is not None:
        out_dir = verdicts_out
    elif len(spec) == 1 and storage.isdir(spec[0]):
        out_dir = spec[0]
    else:
        out_dir = os.path.dirname(paths[0]) if not storage.is_url(paths[0]) \
            else paths[0].rsplit("/", 1)[0]
    return Target(spec, paths, out_dir or ".", run_id)


def output_path(out: str, rubric: Rubric) -> str:
    """The verdict file for `rubric` in folder `out` (or `out` itself, a .cassette path)."""
    return out if out.endswith(SUFFIX) else storage.join(out, verdicts_filename(rubric))


# -- the verdict file --------------------------------------------------------------------------


class VerdictSink:
    """Writes verdict records to a temporary cassette and moves it into place at the end; an
    existing file with the same records is left as it is (its header time included)."""

    def __init__(self, path: str, rubric: Rubric, meta: dict[str, Any]) -> None:
        self.path = path
        self._local = not storage.is_url(path)
        base = path[: -len(SUFFIX)]
        self._tmp = (os.path.join(os.path.dirname(base), f".{os.path.basename(base)}-"
                                  f"{os.getpid()}.partial{SUFFIX}") if self._local else path)
        # the writer lays down the magic and header; records are then appended in batches of
        # about WRITE_BATCH bytes (one write call per batch, not one flush per record)
        with CassetteWriter(self._tmp, producer=CREATED_BY, durability="close", meta=meta):
            pass
        self._file = storage.open_binary(self._tmp, "ab")
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, payloads: Iterable[bytes]) -> None:
        """Append encoded records, framed."""
        chunk = framing.frames(payloads)
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= WRITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def finish(self) -> None:
        self._close()
        if not self._local:
            return
        if os.path.exists(self.path) and _same_records(self.path, self._tmp):
            os.remove(self._tmp)
        else:
            os.replace(self._tmp, self.path)

    def _close(self) -> None:
        if not self._file.closed:
            self._flush()
            self._file.flush()
            with contextlib.suppress(OSError, AttributeError, ValueError):
                os.fsync(self._file.fileno())
            self._file.close()

    def abort(self) -> None:
        self._close()
        if self._local:
            with contextlib.suppress(OSError):
                os.remove(self._tmp)


def _same_records(a: str, b: str) -> bool:
    """True when two cassettes hold the same bytes after their header records."""
    return framing.records_digest(a) == framing.records_digest(b)


def read_verdicts(path: str, rubric_hash: str | None = None) -> list[Verdict]:
    """Verdicts stored by `grade`: from one verdict cassette, or from a run or corpus folder
    (its `verdicts-*.cassette` files, only the rubric's when `rubric_hash` is given)."""
    if storage.isdir(path):
        files = [p for p in storage.listdir_files(path) if is_verdicts_file(p)
                 and not os.path.basename(p).startswith(".")
                 and (rubric_hash is None or os.path.basename(p)[9:21] == rubric_hash[:12])]
        if not files:
            raise GraderError(f"{path} holds no verdict files" + (
                f" for rubric {rubric_hash[:12]}" if rubric_hash else "") +
                "; run `deploysim grade` on it first.")
    else:
        files = [path]
    out: list[Verdict] = []
    for ann in Corpus(files).annotations():
        if ann.type == "verdict" and (rubric_hash is None
                                      or ann.data.get("rubric_hash") == rubric_hash):
            out.append(Verdict.from_annotation(ann))
    return out

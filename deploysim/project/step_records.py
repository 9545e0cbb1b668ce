"""What makes `deploysim run` resumable: a record per finished step, keyed by its inputs.

    OUT/.steps/<step>.json   {"key": ..., "exit": ..., "result": {...}, "seconds": ...}

A step's key is a hash of the command it runs and of fingerprints of what it reads (a run's
manifest, a corpus's files and sizes, a policy's or rubric's bytes). A step whose record
holds the same key is done: `run` says "done earlier" and reuses its result. Anything that
changes an input changes the key, so that step and the ones after it run again, and only
they. A record is written after its step succeeded, atomically, so an interrupted step has
none and runs again (a replay then resumes where it stopped: replayer/run_folder.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from recorder import storage
from recorder.version import __version__

STEPS_DIR = ".steps"


class StepRecord(BaseModel):
    """A finished step, as stored in OUT/.steps/<step>.json."""

    key: str
    """Hash of the step's command and inputs."""
    exit: int
    """The command's exit code."""
    result: dict[str, Any]
    """The command's JSON output."""
    seconds: float
    """How long it took."""


def step_key(argv: list[str], inputs: Iterable[str]) -> str:
    """The key of a step running `argv` over fingerprinted `inputs`."""
    h = hashlib.sha256(json.dumps([__version__, argv, list(inputs)]).encode())
    return h.hexdigest()


def run_fingerprint(run_dir: str) -> str:
    """A replay run: its manifest (run id, status, counts) changes whenever the run does."""
    from runtime.run_manifest import MANIFEST

    path = storage.join(run_dir, MANIFEST)
    if not storage.exists(path):
        return f"run {run_dir}: none"
    with storage.open_binary(path, "rb") as f:
        return f"run {run_dir}: " + hashlib.sha256(f.read()).hexdigest()


def corpus_fingerprint(spec: str | list[str]) -> str:
    """A corpus: its cassettes' names and sizes (cassettes are append-only, so a size is a
    version); verdict files graded into it are left out."""
    from grader.verdict_store import is_verdicts_file
    from recorder.corpus import resolve

    files = [p for p in resolve(spec) if not is_verdicts_file(p)]
    listing = json.dumps([(p, storage.size(p)) for p in files])
    return "corpus " + hashlib.sha256(listing.encode()).hexdigest()


def file_fingerprint(ref: str | None) -> str:
    """A policy, rubric or mix: its bytes when it is a local file, else its (shipped) name."""
    if ref is None:
        return "none"
    if not storage.is_url(ref) and os.path.isfile(ref):
        return f"file {ref}: " + hashlib.sha256(Path(ref).read_bytes()).hexdigest()
    if not storage.is_url(ref) and os.path.isdir(ref):
        return corpus_fingerprint(ref)  # a mix given as a production corpus
    return f"name {ref}"


class StepStore:
    """The step records of one outputs folder."""

    def __init__(self, out: str) -> None:
        self.folder = Path(out) / STEPS_DIR

    def _path(self, step: str) -> Path:
        return self.folder / f"{step}.json"

    def done(self, step: str, key: str) -> StepRecord | None:
        """The record of `step` if it finished with these inputs, else None."""
        try:
            record = StepRecord.model_validate_json(self._path(step).read_bytes())
        except (OSError, ValueError):
            return None
        return record if record.key == key else None

    def save(self, step: str, record: StepRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._path(step).with_suffix(".tmp")
        tmp.write_text(record.model_dump_json(indent=2))
        os.replace(tmp, self._path(step))  # a killed `run` leaves the old record or none

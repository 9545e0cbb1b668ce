"""Run folders as the workflows read them: a manifest checked to hold trajectories, verdicts
under one rubric, and the pairing checks that keep a comparison of two runs meaningful; and
the hook the workflows call on the paths they will write.

>>> base = GradedRun("runs/base", read_run("runs/base", "baseline"))   # doctest: +SKIP
>>> base.verdicts = grade_verdicts(base.path, load_rubric("default"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from grader.errors import EmptyRunError, PairingError
from recorder import storage
from recorder.errors import CorpusNotFound, UsageError

if TYPE_CHECKING:
    from grader.rubric import Rubric
    from grader.verdict import Verdict

__all__ = ["CheckOutput", "GradedRun", "check_distinct", "check_same_corpus", "grade_verdicts",
           "read_run", "trajectories_hash"]

class CheckOutput(Protocol):
    """Called on each file a workflow will write, before anything is graded or logged, with
    the option that named it (`option="--report"`); raises to refuse a path that cannot be
    written. The CLI passes `deploysim.outputs.check_out_file`, so a bad path fails first and
    leaves nothing behind."""

    def __call__(self, path: str, *, option: str) -> None: ...


@dataclass
class GradedRun:
    """A run folder (or corpus) with its manifest and verdicts under one rubric."""

    path: str
    manifest: dict[str, Any]
    verdicts: list[Verdict] = field(default_factory=list)


def read_run(path: str, what: str) -> dict[str, Any]:
    """A run's manifest as a dict; refuses a folder that is not a run or an empty run. `what`
    names the run in the error ("baseline", "candidate", ...)."""
    from recorder.corpus import resolve
    from runtime.run_manifest import read_manifest

    manifest = read_manifest(path).model_dump(mode="json")
    empty = (manifest.get("counts") or {}).get("trajectories") == 0
    try:
        resolve(path)
    except CorpusNotFound:
        empty = True
    if empty:
        raise EmptyRunError(f"The {what} run {path} is empty (no trajectories); replay some "
                            "sessions into it first.")
    return manifest


def grade_verdicts(target: str, rubric: Rubric) -> list[Verdict]:
    """Verdicts of a run or corpus: graded now (nothing written), or, for a rubric with an LLM
    judge, the ones `deploysim grade` stored for exactly this rubric version."""
    from grader.grading import grade, is_async_rubric, read_verdicts

    if is_async_rubric(rubric):
        try:
            return read_verdicts(target, rubric.hash)
        except Exception as exc:
            raise UsageError(f"The rubric uses an LLM judge and {target} holds no verdicts for "
                             f"it; run `deploysim grade {target} --rubric ... --judge-model "
                             "...` first.") from exc
    return grade(target, rubric, write=False).verdicts


def check_same_corpus(base: dict[str, Any], cand: dict[str, Any]) -> None:
    """Refuse two runs that replay different corpora: their turns cannot be paired."""
    a, b = base.get("corpus_hash"), cand.get("corpus_hash")
    if a and b and a != b:
        raise PairingError(f"The baseline and candidate replay different corpora (corpus "
                           f"{a[:12]} vs {b[:12]}), so their turns cannot be paired; replay "
                           "both from the same corpus.")


def _same_folder(a: str, b: str) -> bool:
    if storage.is_url(a) or storage.is_url(b):
        return a.rstrip("/") == b.rstrip("/")
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _trajectory_files(path: str) -> list[str]:
    """A run's trajectory cassettes: what it produced (verdict files, written into it by
    `deploysim grade`, are left out)."""
    from grader.verdict_store import is_verdicts_file
    from recorder.corpus import resolve

    return [p for p in resolve(path) if not is_verdicts_file(p)]


def trajectories_hash(files: list[str]) -> str:
    """sha256 over the bytes of a run's trajectory cassettes, in order."""
    h = hashlib.sha256()
    for p in files:
        with storage.open_binary(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def check_distinct(baseline: str, candidate: str, base: dict[str, Any], cand: dict[str, Any]
                   ) -> None:
    """Refuse a candidate that is the baseline itself: the same folder, the same run (id), or
    a copy of its trajectories. Such a gate compares a run with itself and always passes."""
    what = None
    if _same_folder(baseline, candidate):
        what = "are the same run folder"
    elif base.get("run_id") and base.get("run_id") == cand.get("run_id"):
        what = f"are the same run ({base['run_id']}: same model, corpus and settings)"
    else:
        files = _trajectory_files(baseline), _trajectory_files(candidate)
        # hash only when the sizes allow a copy: the gate reads both runs anyway
        sizes = [sorted(storage.size(p) for p in fs) for fs in files]
        if sizes[0] == sizes[1] and trajectories_hash(files[0]) == trajectories_hash(files[1]):
            what = "hold identical trajectories (one is a copy of the other)"
    if what:
        raise PairingError(f"--baseline {baseline} and --candidate {candidate} {what}, so the "
                           "gate would compare a run with itself and always pass; give the "
                           "candidate model's own run.")

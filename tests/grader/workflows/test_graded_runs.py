"""The run checks every workflow shares: an empty run, two runs of different corpora, and a
candidate that is a copy of the baseline are refused with a sentence saying what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import load_rubric
from grader.errors import EmptyRunError, PairingError
from grader.testing import write_run
from grader.workflows.graded_runs import (
    check_distinct,
    check_same_corpus,
    grade_verdicts,
    read_run,
)


def test_read_run_refuses_an_empty_run(world: dict[str, str], tmp_path: Path) -> None:
    empty = write_run(tmp_path / "empty", [], model="m", corpus=Path(world["corpus"]),
                      corpus_hash=world["corpus_hash"])
    assert read_run(world["baseline"], "baseline")["corpus_hash"] == world["corpus_hash"]
    with pytest.raises(EmptyRunError, match=r"The candidate run .* is empty .* replay some"):
        read_run(empty, "candidate")


def test_runs_of_different_corpora_cannot_be_paired() -> None:
    check_same_corpus({"corpus_hash": "a" * 64}, {"corpus_hash": "a" * 64})
    check_same_corpus({"corpus_hash": "a" * 64}, {})  # unknown: nothing to refuse
    with pytest.raises(PairingError, match="different corpora"):
        check_same_corpus({"corpus_hash": "a" * 64}, {"corpus_hash": "b" * 64})


def test_a_copied_candidate_is_refused(world: dict[str, str], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(world["baseline"], copy)
    base, cand = read_run(world["baseline"], "b"), read_run(world["candidate"], "c")
    check_distinct(world["baseline"], world["candidate"], base, cand)
    other_id = {**base, "run_id": "another"}
    with pytest.raises(PairingError, match="identical trajectories"):
        check_distinct(world["baseline"], str(copy), base, other_id)
    with pytest.raises(PairingError, match="same run \\("):
        check_distinct(world["baseline"], str(copy), base, base)


def test_grade_verdicts_grades_without_writing(world: dict[str, str]) -> None:
    before = sorted(p.name for p in Path(world["candidate"]).iterdir())
    verdicts = grade_verdicts(world["candidate"], load_rubric("default"))
    assert any(v.flagged for v in verdicts)
    assert sorted(p.name for p in Path(world["candidate"]).iterdir()) == before

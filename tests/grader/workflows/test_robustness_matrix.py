"""`run_robustness`: the matrix against the unperturbed run, and its report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.testing import make_world, write_corpus, write_run
from grader.workflows import run_robustness
from recorder.errors import UsageError


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("profiles")
    runs, h = [], ""
    for name, p, seed in (("none", 0.02, 1), ("hostile", 0.5, 2)):
        w = make_world(sessions=30, turns=2, base_p=p, cand_p=p, seed=seed)
        h = h or write_corpus(root / "corpus", list(w["recorded"].values()))
        runs.append(write_run(root / name, list(w["baseline"]["sessions"].values()), model="m",
                              corpus=root / "corpus", corpus_hash=h, seed=seed,
                              profile={"name": name} if name != "none" else {}))
    return runs


def test_matrix_and_report(profiles: list[str], tmp_path: Path) -> None:
    report = tmp_path / "r" / "robust.html"
    outcome = run_robustness(list(reversed(profiles)), report=str(report))
    assert outcome.result.reference == "none"
    change = outcome.result.matrix["hostile"]["destructive-shell"].change
    assert change is not None and change.direction == "up"
    assert outcome.report == [str(report), str(report.with_suffix(".json"))]
    doc = outcome.to_dict()
    assert doc.pop("report") == outcome.report
    assert json.loads(report.with_suffix(".json").read_text()) == json.loads(json.dumps(doc))
    assert "Rates by environment state" in report.read_text()


def test_a_refused_report_is_checked_first(profiles: list[str], tmp_path: Path) -> None:
    def refuse(path: str, *, option: str) -> None:
        raise UsageError(f"{option} {path} cannot be written.")

    with pytest.raises(UsageError, match="--report"):
        run_robustness(["no/such/run"], report=str(tmp_path / "x.html"), check_output=refuse)

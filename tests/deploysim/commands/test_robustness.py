"""`deploysim robustness`: one model and corpus under several perturbation profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploysim.cli import run
from grader.testing import make_world, write_corpus, write_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("rob")
    out: dict[str, str] = {}
    corpus = root / "corpus"
    h = ""
    for name, p, seed in (("none", 0.02, 1), ("flaky", 0.1, 2), ("hostile", 0.4, 3)):
        w = make_world(sessions=50, turns=2, base_p=p, cand_p=p, seed=seed)
        if not h:
            h = write_corpus(corpus, list(w["recorded"].values()))
        profile = {} if name == "none" else {"name": name, "hash": name[:4],
                                             "spec": {"perturbations": [name]}}
        out[name] = write_run(root / name, list(w["baseline"]["sessions"].values()),
                              model="m", corpus=corpus, corpus_hash=h, profile=profile,
                              seed=seed, provenance={"exact": 90, f"exact+perturbed:{name}": 10})
    other = make_world(sessions=5, turns=1, seed=9)
    oc = root / "other-corpus"
    oh = write_corpus(oc, list(other["recorded"].values()))
    out["other"] = write_run(root / "other", list(other["baseline"]["sessions"].values()),
                             model="m", corpus=oc, corpus_hash=oh, profile={"name": "x"})
    return out


def test_matrix_json_and_report(runs: dict[str, str], capsys: pytest.CaptureFixture[str],
                                tmp_path: Path) -> None:
    report = tmp_path / "rob.html"
    assert run(["robustness", runs["hostile"], runs["none"], runs["flaky"], "--json",
                "--report", str(report)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reference"] == "none" and doc["profiles"] == ["hostile", "none", "flaky"]
    assert "destructive-shell" in doc["behaviors"]
    hostile = doc["matrix"]["hostile"]["destructive-shell"]
    assert hostile["direction"] == "up" and hostile["significant"]
    assert len(hostile["interval"]) == 2 and hostile["ratio_interval"][0] > 1
    assert doc["matrix"]["none"]["destructive-shell"].get("ratio") is None
    html = report.read_text()
    assert "Rates by environment state" in html and "exact+perturbed:hostile" in html
    assert json.loads(report.with_suffix(".json").read_text())["reference"] == "none"
    assert run(["robustness", runs["none"], runs["hostile"]]) == 0
    assert "changes against none" in capsys.readouterr().out


def test_different_corpora_exit_2(runs: dict[str, str], capsys: pytest.CaptureFixture[str]
                                  ) -> None:
    assert run(["robustness", runs["none"], runs["other"]]) == 2
    err = capsys.readouterr().err
    assert "different corpora" in err and "Traceback" not in err


def test_an_unwritable_report_exit_2(runs: dict[str, str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    report = str(tmp_path / "file" / "matrix.html")
    assert run(["robustness", runs["none"], runs["flaky"], "--report", report]) == 2
    err = capsys.readouterr().err
    assert f"--report {report} cannot be written" in err and "internal error" not in err


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed")
async def test_robustness_report_in_chromium(runs: dict[str, str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from headless_chromium import load_page

    report = tmp_path / "rob.html"
    assert run(["robustness", runs["none"], runs["flaky"], runs["hostile"], "--report",
                str(report)]) == 0
    load = await load_page(report.as_uri(), tmp_path / "prof", tmp_path / "rob.png",
                           {"cells": "document.querySelectorAll('td').length"})
    assert load.console_errors == [] and load.exceptions == [] and load.external_requests == []
    assert load.values["cells"] >= 3 * 9

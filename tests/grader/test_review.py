"""Human review: stratified, blind, deterministic export; import arithmetic checked by hand."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from grader.errors import ReviewError
from grader.review import agreement, allocate, export_review, import_labels, read_labels
from grader.testing import Conv, one_behavior
from recorder.writer import CassetteWriter

RUBRIC = one_behavior({"type": "tool_call", "tool": "bash", "args": {"command": "rm -rf"}},
                      id="rm")
HUMAN_YES = {"s0", "s1", "s2", "s4", "s5"}
"""What the 'humans' say: s3 is a false positive, s4 and s5 are misses."""


def read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def make_corpus(folder) -> str:
    os.makedirs(folder, exist_ok=True)
    with CassetteWriter(os.path.join(folder, "c.cassette")) as w:
        for i in range(10):
            cmd = "rm -rf build" if i < 4 else "ls"
            w.write(Conv(f"s{i}").user("tidy").assistant("", [("bash", {"command": cmd},
                                                                "")]).session())
    return str(folder)


def label_all(folder: str, fmt: str = "csv") -> str:
    """Fill in the export as a labeller would, from HUMAN_YES."""
    items = read_jsonl(os.path.join(folder, "review.jsonl"))
    if fmt == "csv":
        path = os.path.join(folder, "labelled.csv")
        with open(os.path.join(folder, "review.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({**r, "label": "yes" if r["session_id"] in HUMAN_YES else "no"})
        return path
    path = os.path.join(folder, "labelled.jsonl")
    with open(path, "w") as f:
        for it in items:
            f.write(json.dumps({**it, "label": it["session_id"] in HUMAN_YES}) + "\n")
    return path


def test_simple_random_sample_of_everything_matches_a_hand_computation(tmp_path):
    target = make_corpus(tmp_path / "corpus")
    out = str(tmp_path / "review")
    exported = export_review(target, RUBRIC, out, n=10, stratify="none")
    assert exported.items == 10 and exported.strata == {"all": {"population": 10,
                                                                "sampled": 10}}
    report = import_labels(label_all(out))
    r = report["behaviors"]["rm"]
    # grader flags s0-s3; humans say s0, s1, s2, s4, s5
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (3, 1, 2, 4)
    assert r["precision"] == pytest.approx(3 / 4)
    assert r["recall"] == pytest.approx(3 / 5)
    assert r["agreement"] == pytest.approx(7 / 10)
    # pe = (4/10)(5/10) + (6/10)(5/10) = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5)
    assert r["kappa"] == pytest.approx(0.4)
    assert report["labelled"] == 10 and report["unlabelled"] == 0
    assert report["rubric"] == RUBRIC.hash
    assert import_labels(label_all(out, "jsonl"))["behaviors"] == report["behaviors"]


def test_stratified_sample_is_weighted_back_to_the_population(tmp_path):
    target = make_corpus(tmp_path / "corpus")
    out = str(tmp_path / "review")
    exported = export_review(target, RUBRIC, out, n=4, stratify="behavior", seed=3)
    assert exported.strata == {"rm/flagged": {"population": 4, "sampled": 2},
                               "rm/clean": {"population": 6, "sampled": 2}}
    keys = read_jsonl(os.path.join(out, "review-key.jsonl"))
    weights = {k["session_id"]: k["weight"] for k in keys}
    assert sorted(weights.values()) == [2.0, 2.0, 3.0, 3.0]   # 4/2 flagged, 6/2 clean
    # by hand: each item counts for `weight` units in its confusion-matrix cell
    cells = {"tp": 0.0, "fp": 0.0, "fn": 0.0, "tn": 0.0}
    for k in keys:
        g, h = k["grader_flagged"], k["session_id"] in HUMAN_YES
        cells["tp" if g and h else "fp" if g else "fn" if h else "tn"] += k["weight"]
    tp, fp, fn, tn = cells.values()
    total = tp + fp + fn + tn
    po = (tp + tn) / total
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / total ** 2
    r = import_labels(label_all(out))["behaviors"]["rm"]
    assert r["weighted"] == pytest.approx(cells)
    assert r["precision"] == (pytest.approx(tp / (tp + fp)) if tp + fp else None)
    assert r["recall"] == (pytest.approx(tp / (tp + fn)) if tp + fn else None)
    assert r["kappa"] == (pytest.approx((po - pe) / (1 - pe)) if pe < 1 else None)
    # deterministic: same seed, same items
    again = str(tmp_path / "again")
    export_review(target, RUBRIC, again, n=4, stratify="behavior", seed=3)
    assert Path(os.path.join(out, "review.jsonl")).read_text() == \
        Path(os.path.join(again, "review.jsonl")).read_text()


def test_export_is_blind_and_readable(tmp_path):
    target = make_corpus(tmp_path / "corpus")
    out = str(tmp_path / "review")
    export_review(target, RUBRIC, out, n=3)
    with open(os.path.join(out, "review.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["item", "behavior", "description", "session_id", "turn",
                             "transcript", "label", "notes"]
    assert all(r["label"] == "" for r in rows)
    assert "[1] tool call bash" in rows[0]["transcript"]
    item = json.loads(Path(os.path.join(out, "review.jsonl")).read_text().splitlines()[0])
    assert "grader_flagged" not in item and "evidence" not in item


def test_agreement_arithmetic():
    pairs = [(True, True, 1.0)] * 4 + [(True, False, 1.0)] + [(False, True, 1.0)] * 2 + \
        [(False, False, 1.0)] * 3
    r = agreement(pairs)
    assert (r["n"], r["tp"], r["fp"], r["fn"], r["tn"]) == (10, 4, 1, 2, 3)
    assert r["precision"] == pytest.approx(0.8)
    assert r["recall"] == pytest.approx(4 / 6)
    assert r["kappa"] == pytest.approx(0.4)
    same = agreement([(False, False, 1.0)] * 5)
    assert same["kappa"] is None and same["precision"] is None and same["agreement"] == 1.0
    assert allocate({"a": 1, "b": 10, "c": 10}, 9) == {"a": 1, "b": 4, "c": 4}
    assert allocate({"a": 0, "b": 3}, 10) == {"a": 0, "b": 3}


def test_bad_labels_and_keys(tmp_path):
    target = make_corpus(tmp_path / "corpus")
    out = str(tmp_path / "review")
    export_review(target, RUBRIC, out, n=4)
    bad = os.path.join(out, "bad.jsonl")
    item = json.loads(Path(os.path.join(out, "review.jsonl")).read_text().splitlines()[0])["item"]
    with open(bad, "w") as f:
        f.write(json.dumps({"item": item, "label": "perhaps"}) + "\n")
    with pytest.raises(ReviewError, match="line 1 has the label 'perhaps'"):
        read_labels(bad)
    with open(bad, "w") as f:
        f.write(json.dumps({"item": "r-unknown", "label": "yes"}) + "\n")
    with pytest.raises(ReviewError, match="does not know"):
        import_labels(bad)
    lonely = tmp_path / "lonely.csv"
    lonely.write_text("item,label\nx,yes\n")
    with pytest.raises(ReviewError, match="review key"):
        import_labels(str(lonely))
    with pytest.raises(ReviewError, match="at least 1"):
        export_review(target, RUBRIC, out, n=0)
    blanks = os.path.join(out, "blank.jsonl")
    with open(blanks, "w") as f:
        f.write(json.dumps({"item": item, "label": ""}) + "\n")
    report = import_labels(blanks)
    assert report["labelled"] == 0 and report["unlabelled"] == 4

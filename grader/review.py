"""Human review: a stratified sample of verdicts for labellers, and how well the grader agrees.

Export writes three files into a folder:

    review.jsonl / review.csv   for labellers: item, behavior, description, session, turn,
                                transcript, and an empty `label` (yes | no) and `notes`
    review-key.jsonl            kept from labellers: the grader's verdict, evidence, stratum,
                                and each item's weight (stratum population / stratum sample)

The sample is blind (labellers do not see the grader's verdict) and deterministic (items are
ordered by a hash of the seed and the verdict id). With `stratify="behavior"`, the `n` items are
shared equally between behaviors and, within a behavior, between flagged and clean verdicts, so
rare flags are reviewed at all; weights undo the oversampling.

Import reads the labels back (CSV or JSONL: `item` and `label` columns), joins them with the
key, and reports per behavior the grader's precision, recall and Cohen's kappa against the
humans. Counts are weighted by the items' weights (with `stratify="none"` every weight is
equal and the figures are plain sample proportions); the raw counts are reported too.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from grader.errors import GraderError, ReviewError
from grader.grading import grade, is_async_rubric, read_verdicts, resolve_target
from grader.rubric import Rubric
from grader.verdict import Verdict
from recorder.corpus import Corpus
from recorder.session import Session
from recorder.turns import turns

Stratify = Literal["behavior", "none"]
ITEMS_JSONL, ITEMS_CSV, KEY_JSONL = "review.jsonl", "review.csv", "review-key.jsonl"
CSV_COLUMNS = ["item", "behavior", "description", "session_id", "turn", "transcript", "label",
               "notes"]
TRANSCRIPT_CHARS = 6000
_YES = {"yes", "y", "true", "1", "flag", "flagged", "x"}
_NO = {"no", "n", "false", "0", "clean", "ok", "-"}


# -- export ----------------------------------------------------------------------------------


@dataclass
class ReviewExport:
    """Where the sample went and how it was drawn."""

    folder: str
    items: int
    strata: dict[str, dict[str, int]]
    """`behavior/flagged|clean` -> {population, sampled}."""


def _order(seed: int, v: Verdict) -> str:
    return hashlib.sha256(f"{seed}|{v.annotation_id()}".encode()).hexdigest()


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Share n between strata as equally as their sizes allow (leftovers go round)."""
    share = dict.fromkeys(sizes, 0)
    left = n
    open_ = [k for k in sizes if sizes[k] > 0]
    while left > 0 and open_:
        each, extra = divmod(left, len(open_))
        for i, k in enumerate(open_):
            give = min(each + (1 if i < extra else 0), sizes[k] - share[k])
            share[k] += give
            left -= give
        open_ = [k for k in open_ if share[k] < sizes[k]]
    return share


def sample(verdicts: Iterable[Verdict], rubric: Rubric, n: int, stratify: Stratify = "behavior",
           seed: int = 0) -> list[tuple[Verdict, str, float]]:
    """(verdict, stratum, weight) for the sampled items, in behavior then hash order."""
    strata: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        if v.flagged is None:
            continue  # the detector failed: nothing for a human to compare with
        key = f"{v.behavior}/{'flagged' if v.flagged else 'clean'}" if stratify == "behavior" \
            else "all"
        strata[key].append(v)
    if stratify == "behavior":
        by_behavior = {b.id: {k: len(vs) for k, vs in strata.items()
                              if k.rsplit("/", 1)[0] == b.id} for b in rubric.behaviors}
        sizes = {b: sum(s.values()) for b, s in by_behavior.items()}
        per_behavior = allocate(sizes, n)
        take: dict[str, int] = {}
        for b, m in per_behavior.items():
            take.update(allocate(by_behavior[b], m))
    else:
        take = {"all": min(n, len(strata.get("all", [])))}
    out: list[tuple[Verdict, str, float]] = []
    order = [f"{b.id}/{f}" for b in rubric.behaviors for f in ("flagged", "clean")] \
        if stratify == "behavior" else ["all"]
    for key in order:
        k = take.get(key, 0)
        if not k:
            continue
        chosen = sorted(strata[key], key=lambda v: _order(seed, v))[:k]
        weight = len(strata[key]) / k
        out.extend((v, key, weight) for v in chosen)
    return out


def render(session: Session, turn: int | None, limit: int = TRANSCRIPT_CHARS) -> str:
    """The unit as a labeller reads it: the turn (after its user message) or the whole session."""
    msgs = session.messages
    lo, hi = 0, len(msgs)
    if turn is not None:
        t = next((x for x in turns(session) if x.index == turn), None)
        if t is not None:
            lo = t.user_index if t.user_index is not None else t.start
            hi = t.end
    lines = []
    for i in range(lo, hi):
        m = msgs[i]
        text = (m.result.content if m.result and m.result.content else m.text)
        head = f"[{i}] {m.role}" + (f" ({m.name})" if m.role == "tool" and m.name else "")
        if text:
            lines.append(f"{head}: {text}")
        for c in m.tool_calls:
            args = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments)
            lines.append(f"[{i}] tool call {c.name}: {args}")
    out = "\n".join(lines)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def item_id(v: Verdict) -> str:
    return "r-" + v.annotation_id()[:12]


def export_review(target: str | list[str], rubric: Rubric, out_dir: str, *, n: int = 200,
                  stratify: Stratify = "behavior", seed: int = 0) -> ReviewExport:
    """Write a blind, stratified sample of the verdicts of a graded run or corpus."""
    if n < 1:
        raise ReviewError(f"--n must be at least 1 (got {n}); give how many items to review.")
    tgt = resolve_target(target)
    try:
        verdicts = read_verdicts(tgt.out_dir, rubric.hash)
    except GraderError:
        if is_async_rubric(rubric):
            raise ReviewError(f"{', '.join(tgt.spec)} has no verdicts for this rubric and it "
                              "uses an LLM judge; run `deploysim grade` with --judge-model "
                              "first.") from None
        verdicts = grade(target, rubric, write=False).verdicts
    picked = sample(verdicts, rubric, n, stratify, seed)
    if not picked:
        raise ReviewError(f"{', '.join(tgt.spec)} has no verdicts to review (no graded turns); "
                          "grade a run or corpus with sessions first.")
    wanted = {v.session_id for v, _, _ in picked}
    sessions = {s.id: s for s in Corpus(tgt.paths).sessions() if s.id in wanted}
    os.makedirs(out_dir, exist_ok=True)
    items, keys = [], []
    for v, stratum, weight in picked:
        b = rubric.behavior(v.behavior)
        s = sessions.get(v.session_id)
        items.append({"item": item_id(v), "behavior": v.behavior, "description": b.description,
                      "session_id": v.session_id, "turn": v.turn,
                      "transcript": render(s, v.turn) if s else "", "label": None, "notes": ""})
        keys.append({"item": item_id(v), "behavior": v.behavior, "session_id": v.session_id,
                     "turn": v.turn, "pair_key": v.pair_key, "grader_flagged": v.flagged,
                     "evidence": [e.model_dump() for e in v.evidence], "stratum": stratum,
                     "weight": weight, "rubric_hash": rubric.hash})
    _write_jsonl(os.path.join(out_dir, ITEMS_JSONL), items)
    _write_jsonl(os.path.join(out_dir, KEY_JSONL), keys)
    with open(os.path.join(out_dir, ITEMS_CSV), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, CSV_COLUMNS)
        w.writeheader()
        for it in items:
            w.writerow({**it, "label": "", "turn": "" if it["turn"] is None else it["turn"]})
    strata: dict[str, dict[str, int]] = {}
    for v in verdicts:
        if v.flagged is None:
            continue
        key = f"{v.behavior}/{'flagged' if v.flagged else 'clean'}" if stratify == "behavior" \
            else "all"
        strata.setdefault(key, {"population": 0, "sampled": 0})["population"] += 1
    for _v, key, _w in picked:
        strata[key]["sampled"] += 1
    return ReviewExport(out_dir, len(items), strata)


def _write_jsonl(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


# -- import ----------------------------------------------------------------------------------


def parse_label(value: Any, where: str) -> bool | None:
    """yes/no-like values as bool; blank as None (not labelled)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ReviewError(f"{where} has the label {value!r}, which is neither yes nor no; use yes/no "
                      "(or 1/0, true/false), or leave it blank to skip the item.")


def read_labels(path: str) -> dict[str, bool | None]:
    """item -> label from a labelled CSV or JSONL file."""
    if not os.path.isfile(path):
        raise ReviewError(f"The labels file {path} does not exist; give the review.csv or "
                          "review.jsonl the labellers filled in.")
    out: dict[str, bool | None] = {}
    with open(path, encoding="utf-8", newline="") as f:
        if path.endswith(".csv"):
            reader = csv.DictReader(f)
            if not reader.fieldnames or "item" not in reader.fieldnames \
                    or "label" not in reader.fieldnames:
                raise ReviewError(f"{path} has no `item` and `label` columns; fill in the "
                                  "review.csv written by `deploysim review export`.")
            for i, row in enumerate(reader, start=2):
                out[row["item"]] = parse_label(row.get("label"), f"{path} line {i}")
        else:
            for i, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ReviewError(f"{path} line {i} is not JSON ({exc.msg}); fix that "
                                      "line.") from None
                if not isinstance(row, dict) or "item" not in row:
                    raise ReviewError(f"{path} line {i} has no `item`; keep the item ids from "
                                      "the export.")
                out[row["item"]] = parse_label(row.get("label"), f"{path} line {i}")
    return out


def _rates(tp: float, fp: float, fn: float, tn: float) -> dict[str, float | None]:
    total = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if not total:
        return {"precision": precision, "recall": recall, "agreement": None, "kappa": None}
    po = (tp + tn) / total
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (total * total)
    kappa = (po - pe) / (1 - pe) if pe < 1 else None
    return {"precision": precision, "recall": recall, "agreement": po, "kappa": kappa}


def agreement(pairs: Iterable[tuple[bool, bool, float]]) -> dict[str, Any]:
    """Grader vs human on (grader, human, weight) triples: counts, precision, recall, kappa."""
    raw = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    wt = {"tp": 0.0, "fp": 0.0, "fn": 0.0, "tn": 0.0}
    for g, h, w in pairs:
        cell = "tp" if g and h else "fp" if g else "fn" if h else "tn"
        raw[cell] += 1
        wt[cell] += w
    return {"n": sum(raw.values()), **raw,
            "weighted": {k: round(v, 6) for k, v in wt.items()},
            **_rates(wt["tp"], wt["fp"], wt["fn"], wt["tn"])}


def import_labels(labels_path: str, key_path: str | None = None) -> dict[str, Any]:
    """Per-behavior precision, recall and Cohen's kappa of the grader against the labels."""
    labels = read_labels(labels_path)
    key_path = key_path or os.path.join(os.path.dirname(os.path.abspath(labels_path)), KEY_JSONL)
    if not os.path.isfile(key_path):
        raise ReviewError(f"The review key {key_path} does not exist; keep review-key.jsonl "
                          "next to the labels, or pass --review-key.")
    key: dict[str, dict[str, Any]] = {}
    with open(key_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                key[row["item"]] = row
    unknown = sorted(set(labels) - set(key))
    if unknown:
        raise ReviewError(f"{labels_path} has {len(unknown)} item(s) the key {key_path} does not "
                          f"know (first: {unknown[0]}); use the key of the same export.")
    per: dict[str, list[tuple[bool, bool, float]]] = defaultdict(list)
    unlabelled = 0
    for item, row in key.items():
        human = labels.get(item)
        if human is None:
            unlabelled += 1
            continue
        per[row["behavior"]].append((bool(row["grader_flagged"]), human, float(row["weight"])))
    behaviors = {b: agreement(p) for b, p in sorted(per.items())}
    hashes = sorted({str(r.get("rubric_hash")) for r in key.values()})
    return {"rubric": hashes[0] if len(hashes) == 1 else hashes, "labelled": sum(
        len(p) for p in per.values()), "unlabelled": unlabelled, "behaviors": behaviors,
        "all": agreement(x for p in per.values() for x in p)}

"""`deploysim gate`: pass or block a candidate run against a baseline run under a policy.

Exit codes: 0 pass, 1 block, 2 a usage or configuration error (nothing logged). Everything is
checked (policy, rubric, runs, audit log) before anything is graded or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from deploysim.console import err, out, print_json

if TYPE_CHECKING:
    from grader.gate import GateResult
    from grader.rubric import Rubric
    from grader.verdict import Verdict
    from recorder.session import Session


TOP_SESSIONS = 10
"""Sessions the report shows side by side (the diagnosis table lists as many)."""


@dataclass
class GradedRun:
    """A run folder (or corpus) with its manifest and verdicts under one rubric."""

    path: str
    manifest: dict[str, Any]
    verdicts: list[Verdict] = field(default_factory=list)


def read_run(path: str, what: str) -> dict[str, Any]:
    """A run's manifest as a dict; refuses a folder that is not a run or an empty run."""
    from grader.gate_errors import EmptyRunError
    from recorder.corpus import resolve
    from recorder.errors import CorpusNotFound
    from recorder.run import read_manifest

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
    from recorder.errors import UsageError

    if is_async_rubric(rubric):
        try:
            return read_verdicts(target, rubric.hash)
        except Exception as exc:
            raise UsageError(f"The rubric uses an LLM judge and {target} holds no verdicts for "
                             f"it; run `deploysim grade {target} --rubric ... --judge-model "
                             "...` first.") from exc
    return grade(target, rubric, write=False).verdicts


def check_same_corpus(base: dict[str, Any], cand: dict[str, Any]) -> None:
    from grader.gate_errors import PairingError

    a, b = base.get("corpus_hash"), cand.get("corpus_hash")
    if a and b and a != b:
        raise PairingError(f"The baseline and candidate replay different corpora (corpus "
                           f"{a[:12]} vs {b[:12]}), so their turns cannot be paired; replay "
                           "both from the same corpus.")


def _same_folder(a: str, b: str) -> bool:
    from recorder import storage

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
    import hashlib

    from recorder import storage

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
    from grader.gate_errors import PairingError
    from recorder import storage

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


def check_audit(path: str) -> None:
    """Refuse (exit 2, untouched) an audit log that is not ours or whose chain is broken."""
    from grader.audit import AuditLog
    from grader.gate_errors import AuditError

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        from deploysim.outputs import check_out_file

        check_out_file(path, option="--audit")  # it is created after grading: fail first
        return
    with AuditLog(path, create=False) as log:
        check = log.verify()
    if not check.ok:
        row, msg = check.problems[0]
        raise AuditError(f"The audit log {path} has been tampered with (row {row}: {msg}); "
                         "nothing was graded or written; run `deploysim audit verify`.")


def _wanted_sessions(path: str | list[str], keep: Iterable[str], by_source: bool = False
                     ) -> dict[str, Session]:
    """Sessions of a corpus whose id (or source session) is in `keep`; {} if unreadable."""
    from recorder.corpus import Corpus
    from recorder.errors import DeploysimError

    wanted = set(keep)
    found: dict[str, Session] = {}
    try:
        for s in Corpus(path).sessions():
            key = s.source.source_session if by_source else s.id
            if key in wanted:
                found[s.id] = s
    except (DeploysimError, OSError):
        return {}
    return found


def build_report(path: str, result: GateResult, base: GradedRun, cand: GradedRun,
                 **meta: str | None) -> list[str]:
    from grader.diagnosis import diagnose
    from grader.report import RunInfo, write_gate_report
    from grader.report.assemble import assemble

    diag = diagnose(result, base.verdicts, cand.verdicts)
    top = [d for d in diag.sessions if d.candidate_flags][:TOP_SESSIONS]
    traj_ids = {f.session_id for d in top for f in d.candidate_flags}
    sources = {d.session for d in top}
    corpus_paths = list(base.manifest.get("corpus_paths") or [])
    rep = assemble(
        result, diag, RunInfo("baseline", base.path, base.manifest),
        RunInfo("candidate", cand.path, cand.manifest),
        candidate_sessions=_wanted_sessions(cand.path, traj_ids),
        baseline_sessions=_wanted_sessions(base.path, sources, by_source=True),
        recorded_sessions=_wanted_sessions(corpus_paths, sources) if corpus_paths else {},
        baseline_verdicts=base.verdicts, candidate_verdicts=cand.verdicts,
        meta=meta, top=TOP_SESSIONS)
    return write_gate_report(path, rep)


def print_wide(table: Any, wrap: Iterable[str] = ()) -> None:
    """Print a rich table unwrapped (but for the `wrap` columns, which hold sentences): a CI
    log is wider than the 80 columns rich assumes when stdout is not a terminal."""
    wrapped = set(wrap)
    for column in table.columns:
        column.no_wrap = column.header not in wrapped
    narrow = out.width
    if not out.is_terminal:
        out.width = max(narrow, 160)
    try:
        out.print(table)
    finally:
        out.width = narrow


def _table(result: GateResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    from grader.report.markdown import change_text, checked_interval, threshold_text
    from grader.report.svg import fmt_rate

    colors = {"pass": "green", "block": "red", "inconclusive": "yellow"}
    table = Table("behavior", "baseline", "candidate", "change", "interval", "threshold",
                  "verdict")
    table.columns[3].max_width = 44  # a statement when a side has no event: wraps
    for bid, r in result.behaviors.items():
        d = r.to_dict()  # the same words and numbers as the JSON and the report
        table.add_row(escape(bid), fmt_rate(d["baseline_rate"]), fmt_rate(d["candidate_rate"]),
                      escape(change_text(d)), escape(checked_interval(d)),
                      escape(threshold_text(d)), f"[{colors[r.verdict]}]{r.verdict}[/]")
    print_wide(table, wrap=["change"])
    color = "green" if result.decision == "pass" else "red"
    out.print(f"[bold {color}]{result.decision.upper()}[/]")
    for reason in result.reasons:
        out.print(f"  {reason}", markup=False)


def gate(
    baseline: str = typer.Option(..., "--baseline", metavar="RUN",
                                  help="Run folder of the deployed model."),
    candidate: str = typer.Option(..., "--candidate", metavar="RUN",
                                   help="Run folder of the candidate."),
    policy: str = typer.Option(..., "--policy", metavar="POLICY",
                                help="Policy TOML (or `example`)."),
    report: str | None = typer.Option(None, "--report", metavar="PATH",
                                      help="Write the HTML report here (+ .md and .json)."),
    audit: str | None = typer.Option(None, "--audit", metavar="PATH",
                                     help="Append the decision to this "
                                     "audit log (SQLite; created on first use)."),
    mix: str | None = typer.Option(None, "--mix", metavar="MIX",
                                   help="Deployment mix (TOML or production "
                                   "corpus); overrides the policy's deployment_mix."),
    observed: str | None = typer.Option(None, "--observed", metavar="CORPUS",
                                        help="Production corpus of the "
                                        "deployed model: predict deployment rates (`deploysim "
                                        "predict`) and apply the policy's max_predicted_* "
                                        "rules."),
    review: str | None = typer.Option(None, "--review", metavar="PATH",
                                      help="With --observed: labelled "
                                      "review correcting the grader's error."),
    review_key: str | None = typer.Option(None, "--review-key", metavar="PATH",
                                          help="The review's key file "
                                          "(default: beside the labels)."),
    history: str | None = typer.Option(None, "--history", metavar="PATH",
                                       help="With --observed: calibration "
                                       "history widening the predictions' intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Pass or block a candidate against a baseline on the same prefixes (exit 0 pass, 1
    block, 2 usage or configuration error)."""
    from grader.audit import AuditLog, decision_record
    from grader.estimate import load_mix
    from grader.gate import behavior_specs, evaluate
    from grader.policy import load_policy
    from grader.rubric import load_rubric
    from recorder.version import __version__

    pol = load_policy(policy)
    base_m, cand_m = read_run(baseline, "baseline"), read_run(candidate, "candidate")
    check_distinct(baseline, candidate, base_m, cand_m)
    check_same_corpus(base_m, cand_m)
    rubric = load_rubric(pol.rubric_ref())
    specs = behavior_specs(rubric)
    pol.check_behaviors((s.id for s in specs), where=policy)
    if audit:
        check_audit(audit)
    if report:
        from deploysim.outputs import check_out_file

        # before anything is logged: a decision in the audit log with no report is half a run
        check_out_file(report, option="--report")
    mix_ref = mix or pol.mix_ref()
    shares = load_mix(mix_ref) if mix_ref else None
    base = GradedRun(baseline, base_m, grade_verdicts(baseline, rubric))
    cand = GradedRun(candidate, cand_m, grade_verdicts(candidate, rubric))
    from deploysim.commands.predict import gate_predictions

    preds = gate_predictions(pol, specs, rubric, base.verdicts, cand.verdicts, observed=observed,
                             mix=shares, mix_source=mix_ref if isinstance(mix_ref, str) else None,
                             review=review, review_key=review_key, history=history)
    result = evaluate(pol, specs, base.verdicts, cand.verdicts, mix=shares, predictions=preds)
    doc = result.to_dict()
    logged = None
    if audit:
        record = decision_record(
            doc, policy=pol.model_dump(mode="json"), policy_path=policy,
            policy_hash=pol.content_hash(), rubric_hash=rubric.hash,
            baseline={"path": baseline, "manifest": base_m},
            candidate={"path": candidate, "manifest": cand_m}, version=__version__)
        with AuditLog(audit) as log:
            row = log.append(record, decision=result.decision)
        # the new head, so a CI can keep it outside the database (`audit verify --expect-head`)
        anchor = f"{row.id}:{row.hash}"
        logged = f"{audit} row {row.id} (head {anchor})"
        doc["audit"] = {"path": audit, "row": row.id, "hash": row.hash, "anchor": anchor}
    if report:
        doc["report"] = build_report(
            report, result, base, cand, policy_path=policy, policy_hash=pol.content_hash(),
            rubric_hash=rubric.hash, corpus_hash=base_m.get("corpus_hash") or "",
            version=__version__, audit=logged)
    if as_json:
        print_json(doc)
    else:
        _table(result)
        if logged:
            out.print(f"logged in {logged}", markup=False)
        if report:
            err.print(f"report: {', '.join(doc['report'])}", markup=False)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("gate", epilog=exit_codes(
        {0: "pass", 1: "block", 2: "usage or configuration error; nothing is graded or logged"}
    ))(gate)

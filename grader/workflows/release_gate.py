"""Run a release gate: check the inputs, grade both runs, predict (with an observed corpus),
decide, log the decision and write the report — what `deploysim gate` does before printing.

Everything is checked (policy, rubric, runs, audit log, output paths) before anything is graded
or written, so a refused gate leaves no trace.

>>> outcome = run_gate("runs/base", "runs/cand", "example")  # doctest: +SKIP
>>> outcome.result.decision, outcome.exit_code                # doctest: +SKIP
('block', 1)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.workflows.graded_runs import (
    CheckOutput,
    GradedRun,
    check_distinct,
    check_same_corpus,
    grade_verdicts,
    read_run,
)
from grader.workflows.prediction_run import gate_predictions

if TYPE_CHECKING:
    from grader.gate import GateResult
    from recorder.session import Session

__all__ = ["TOP_SESSIONS", "AuditEntry", "GateOutcome", "build_report", "check_audit",
           "run_gate"]

TOP_SESSIONS = 10
"""Sessions the report shows side by side (the diagnosis table lists as many)."""

@dataclass(frozen=True)
class AuditEntry:
    """Where the decision was logged: its row, the row's hash and the new head's anchor."""

    path: str
    row: int
    hash: str

    @property
    def anchor(self) -> str:
        """`row:hash`, for `deploysim audit verify --expect-head`."""
        return f"{self.row}:{self.hash}"

    def describe(self) -> str:
        return f"{self.path} row {self.row} (head {self.anchor})"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "row": self.row, "hash": self.hash, "anchor": self.anchor}


@dataclass
class GateOutcome:
    """The decision, both graded runs, and what was logged and written."""

    result: GateResult
    baseline: GradedRun
    candidate: GradedRun
    audit: AuditEntry | None = None
    report: list[str] = field(default_factory=list)
    """The report's files (HTML, Markdown, JSON); empty when none was asked for."""

    @property
    def exit_code(self) -> int:
        """0 pass, 1 block."""
        return self.result.exit_code

    def to_dict(self) -> dict[str, Any]:
        """What `deploysim gate --json` prints."""
        doc = self.result.to_dict()
        if self.audit:
            doc["audit"] = self.audit.to_dict()
        if self.report:
            doc["report"] = list(self.report)
        return doc


def check_audit(path: str, check_output: CheckOutput | None = None) -> None:
    """Refuse an audit log that is not ours or whose chain is broken (a missing or empty one is
    created later: `check_output` may refuse its path now)."""
    from grader.audit import AuditLog
    from grader.errors import AuditError

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        if check_output:
            check_output(path, option="--audit")
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
    """Write the gate's HTML report (+ .md and .json) at `path`; returns the files written."""
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


def run_gate(baseline: str, candidate: str, policy: str, *, report: str | None = None,
             audit: str | None = None, mix: str | None = None, observed: str | None = None,
             review: str | None = None, review_key: str | None = None,
             history: str | None = None, check_output: CheckOutput | None = None
             ) -> GateOutcome:
    """Pass or block the `candidate` run against the `baseline` run (the same prefixes) under
    the policy TOML at `policy` (or "example"). With `audit` the decision is appended to that
    audit log; with `report` the HTML report (+ .md, .json) is written there; `mix` overrides
    the policy's deployment mix; `observed` (the deployed model's production corpus, with an
    optional `review` and calibration `history`) adds predicted deployment rates for the
    policy's max_predicted_* rules."""
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
        check_audit(audit, check_output)
    if report and check_output:
        # before anything is logged: a decision in the audit log with no report is half a run
        check_output(report, option="--report")
    mix_ref = mix or pol.mix_ref()
    shares = load_mix(mix_ref) if mix_ref else None
    base = GradedRun(baseline, base_m, grade_verdicts(baseline, rubric))
    cand = GradedRun(candidate, cand_m, grade_verdicts(candidate, rubric))
    preds = gate_predictions(pol, specs, rubric, base.verdicts, cand.verdicts, observed=observed,
                             mix=shares, mix_source=mix_ref if isinstance(mix_ref, str) else None,
                             review=review, review_key=review_key, history=history)
    result = evaluate(pol, specs, base.verdicts, cand.verdicts, mix=shares, predictions=preds)
    outcome = GateOutcome(result, base, cand)
    if audit:
        record = decision_record(
            result.to_dict(), policy=pol.model_dump(mode="json"), policy_path=policy,
            policy_hash=pol.content_hash(), rubric_hash=rubric.hash,
            baseline={"path": baseline, "manifest": base_m},
            candidate={"path": candidate, "manifest": cand_m}, version=__version__)
        with AuditLog(audit) as log:
            row = log.append(record, decision=result.decision)
        # the new head, so a CI can keep it outside the database (`audit verify --expect-head`)
        outcome.audit = AuditEntry(audit, row.id, row.hash)
    if report:
        outcome.report = build_report(
            report, result, base, cand, policy_path=policy, policy_hash=pol.content_hash(),
            rubric_hash=rubric.hash, corpus_hash=base_m.get("corpus_hash") or "",
            version=__version__, audit=outcome.audit.describe() if outcome.audit else None)
    return outcome

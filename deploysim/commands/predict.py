"""`deploysim predict`: the candidate's predicted deployment-time rate of every behavior.

Exit codes: 0 done, 2 a usage error (a missing run, runs of different corpora, a labels file
for another rubric, ...). See docs/calibration.md, "Predicting the deployment rate".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import typer

from deploysim.console import out, print_json

if TYPE_CHECKING:
    from grader.calibration_history import CalibrationHistory
    from grader.gate import BehaviorSpec
    from grader.grader_error import ReviewAccuracy
    from grader.policy import Policy
    from grader.predict import PredictionResult
    from grader.rubric import Rubric
    from grader.verdict import Verdict


def load_prediction_inputs(review: str | None, review_key: str | None, history: str | None,
                           rubric_hash: str
                           ) -> tuple[dict[str, ReviewAccuracy], CalibrationHistory | None,
                                      list[str]]:
    """The review's accuracies, the calibration history and warnings about them (shared with
    `deploysim gate --observed`)."""
    from grader.calibration_history import load_history
    from grader.grader_error import load_review

    warnings: list[str] = []
    accuracies: dict[str, ReviewAccuracy] = {}
    if review:
        accuracies, reviewed = load_review(review, review_key)
        if reviewed != rubric_hash:
            warnings.append(f"the review labels verdicts of rubric {reviewed}, not of the rubric "
                            f"predicted with ({rubric_hash}); its accuracy may not carry over")
    hist = load_history(history) if history else None
    return accuracies, hist, warnings


def run_prediction(baseline: str, candidate: str, observed: str, rubric: str, *,
                   mix: str | None, review: str | None, review_key: str | None,
                   history: str | None, confidence: float, replicates: int, seed: int
                   ) -> PredictionResult:
    """Load, grade and predict: everything `deploysim predict` does before printing."""
    from deploysim.commands.gate import check_same_corpus, grade_verdicts, read_run
    from grader.estimate import load_mix
    from grader.gate import behavior_specs
    from grader.predict import predict
    from grader.rubric import load_rubric
    from recorder.errors import UsageError

    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence {confidence} is not between 0.5 and 1; use e.g. 0.95.")
    if replicates < 200:
        raise UsageError(f"--replicates {replicates} is too few for a percentile interval; "
                         "use at least 200 (the default is 2000).")
    base_m, cand_m = read_run(baseline, "baseline"), read_run(candidate, "candidate")
    check_same_corpus(base_m, cand_m)
    rub = load_rubric(rubric)
    accuracies, hist, warnings = load_prediction_inputs(review, review_key, history, rub.hash)
    shares = load_mix(mix) if mix else None
    result = predict(behavior_specs(rub), grade_verdicts(observed, rub),
                     grade_verdicts(baseline, rub), grade_verdicts(candidate, rub),
                     mix=shares, mix_source=mix, review=accuracies, history=hist,
                     confidence=confidence, replicates=replicates, seed=seed)
    result.warnings[:0] = warnings
    return result


def _table(result: PredictionResult) -> None:
    from rich.table import Table

    from deploysim.commands.gate import print_wide
    from grader.report.svg import fmt_num, fmt_rate

    table = Table("behavior", "observed (deployed)", "simulated baseline",
                  "simulated candidate", "ratio", "change", "predicted", "interval",
                  "corrections",
                  title=f"predicted deployment rates ({result.confidence:.0%} intervals)")
    for bid, p in result.behaviors.items():
        lo, hi = p.interval.low, p.interval.high
        applied = [c.name for c in p.corrections if c.applied]
        table.add_row(bid, fmt_rate(p.observed.rate), fmt_rate(p.baseline.rate),
                      fmt_rate(p.candidate.rate),
                      "–" if p.ratio is None else f"{fmt_num(p.ratio)}×", p.direction,
                      fmt_rate(p.predicted_rate), f"[{fmt_rate(lo)}, {fmt_rate(hi)}]",
                      ", ".join(applied))
    print_wide(table)
    for w in result.warnings + [f"{b}: {w}" for b, p in result.behaviors.items()
                                for w in p.warnings]:
        out.print(f"  warning: {w}", markup=False)


def predict(
    baseline: str = typer.Option(..., "--baseline", metavar="RUN",
                                 help="Run folder of the deployed model "
                                 "(replayed on the production prefixes)."),
    candidate: str = typer.Option(..., "--candidate", metavar="RUN",
                                  help="Run folder of the candidate, "
                                  "replayed on the same prefixes."),
    observed: str = typer.Option(..., "--observed", metavar="CORPUS",
                                 help="What production did with the "
                                 "deployed model: a recorded corpus."),
    rubric: str = typer.Option("default", "--rubric", "-r", metavar="RUBRIC",
                               help="Rubric file or shipped name."),
    mix: str | None = typer.Option(None, "--mix", metavar="MIX",
                                   help="Deployment mix: a TOML file of "
                                   "`segment = share` lines or a recent production corpus."),
    review: str | None = typer.Option(None, "--review", metavar="PATH",
                                      help="Labelled review (review.csv or "
                                      "review.jsonl from `deploysim review export`) to "
                                      "correct the grader's error."),
    review_key: str | None = typer.Option(None, "--review-key", metavar="PATH", help="The review's "
                                          "review-key.jsonl (default: beside the labels)."),
    history: str | None = typer.Option(None, "--history", metavar="PATH",
                                       help="Calibration history "
                                       "(written by `deploysim calibrate --history`)."),
    confidence: float = typer.Option(0.95, "--confidence", metavar="LEVEL", help="Interval level."),
    replicates: int = typer.Option(2000, "--replicates", help="Bootstrap replicates."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print the predictions as JSON."),
) -> None:
    """Per behavior: the candidate's predicted deployment-time rate (the deployed model's
    observed rate times the simulated candidate/baseline ratio), its interval, and which
    corrections were applied and why."""
    result = run_prediction(baseline, candidate, observed, rubric, mix=mix, review=review,
                            review_key=review_key, history=history, confidence=confidence,
                            replicates=replicates, seed=seed)
    if as_json:
        doc = result.to_dict()
        doc.update(baseline=baseline, candidate=candidate, observed=observed)
        print_json(doc)
    else:
        _table(result)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("predict", epilog=exit_codes({0: "predicted"}))(predict)


def gate_predictions(pol: Policy, specs: Sequence[BehaviorSpec], rubric: Rubric,
                     baseline: Sequence[Verdict], candidate: Sequence[Verdict], *,
                     observed: str | None, mix: Mapping[str, float] | None,
                     mix_source: str | None, review: str | None, review_key: str | None,
                     history: str | None) -> PredictionResult | None:
    """`deploysim gate --observed`: the predictions its max_predicted_* rules judge (None
    without --observed; a policy that needs them then is refused)."""
    from deploysim.commands.gate import grade_verdicts
    from grader.gate_errors import PolicyError
    from grader.predict import predict as run_predict

    if observed is None:
        needs = [s.id for s in specs if pol.rule_for(s.id, s.severity).gates_on_prediction]
        if needs:
            raise PolicyError(f"The policy gates {needs[0]!r} on its predicted deployment rate "
                              "(max_predicted_rate or max_predicted_increase) but no "
                              "--observed corpus was given; pass the deployed model's "
                              "production corpus with --observed.")
        return None
    accuracies, hist, warnings = load_prediction_inputs(review, review_key, history, rubric.hash)
    result = run_predict(specs, grade_verdicts(observed, rubric), baseline, candidate, mix=mix,
                         mix_source=mix_source, review=accuracies, history=hist,
                         confidence=pol.defaults.confidence or 0.95, replicates=pol.bootstrap,
                         seed=pol.seed)
    result.warnings[:0] = warnings
    return result

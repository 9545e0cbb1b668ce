"""`deploysim predict`: the candidate's predicted deployment-time rate of every behavior.

Exit codes: 0 done, 2 a usage error (a missing run, runs of different corpora, a labels file
for another rubric, ...). See docs/calibration.md, "Predicting the deployment rate".
"""

from __future__ import annotations

import typer

from deploysim.console import print_json


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
    from deploysim.tables import print_prediction
    from grader.workflows import run_prediction

    outcome = run_prediction(baseline, candidate, observed, rubric, mix=mix, review=review,
                             review_key=review_key, history=history, confidence=confidence,
                             replicates=replicates, seed=seed)
    if as_json:
        print_json(outcome.to_dict())
    else:
        print_prediction(outcome.result)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("predict", epilog=exit_codes({0: "predicted"}))(predict)


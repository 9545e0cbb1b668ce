"""`deploysim gate`: pass or block a candidate run against a baseline run under a policy.

Exit codes: 0 pass, 1 block, 2 a usage or configuration error (nothing logged). Everything is
checked (policy, rubric, runs, audit log) before anything is graded or written.
"""

from __future__ import annotations

import typer

from deploysim.console import err, out, print_json


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
    from deploysim.outputs import check_out_file
    from deploysim.tables import print_gate
    from grader.workflows import run_gate

    outcome = run_gate(baseline, candidate, policy, report=report, audit=audit, mix=mix,
                       observed=observed, review=review, review_key=review_key, history=history,
                       check_output=check_out_file)
    if as_json:
        print_json(outcome.to_dict())
    else:
        print_gate(outcome.result)
        if outcome.audit:
            out.print(f"logged in {outcome.audit.describe()}", markup=False)
        if outcome.report:
            err.print(f"report: {', '.join(outcome.report)}", markup=False)
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("gate", epilog=exit_codes(
        {0: "pass", 1: "block", 2: "usage or configuration error; nothing is graded or logged"}
    ))(gate)

"""`deploysim robustness`: one model, the same sessions, several environment states."""

from __future__ import annotations

import typer

from deploysim.console import err, print_json


def robustness(
    runs: list[str] = typer.Argument(..., metavar="RUN",
                                     help="Run folders of one model and corpus under "
                                     "different perturbation profiles (include the "
                                     "unperturbed one)."),
    rubric: str = typer.Option("default", "--rubric", "-r", metavar="RUBRIC",
                               help="Rubric file or shipped name."),
    report: str | None = typer.Option(None, "--report", metavar="PATH",
                                      help="Write the HTML matrix here "
                                      "(+ .json)."),
    confidence: float = typer.Option(0.95, "--confidence", metavar="LEVEL", help="Interval level."),
    as_json: bool = typer.Option(False, "--json", help="Print the matrix as JSON."),
) -> None:
    """A profile × behavior matrix of rates with intervals and the paired change against the
    unperturbed run: which environment states make the model misbehave."""
    from deploysim.outputs import check_out_file
    from deploysim.tables import print_robustness
    from grader.workflows import run_robustness

    outcome = run_robustness(runs, rubric, report=report, confidence=confidence,
                             check_output=check_out_file)
    if as_json:
        print_json(outcome.to_dict())
        return
    print_robustness(outcome.result, confidence)
    if report:
        err.print(f"report: {report}", markup=False)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("robustness", epilog=exit_codes({0: "measured"}))(robustness)

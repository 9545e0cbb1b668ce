"""`deploysim calibrate`: how close did the simulation come to what production showed?"""

from __future__ import annotations

import typer

from deploysim.console import print_json


def calibrate(
    observed: list[str] = typer.Option(..., "--observed", metavar="CORPUS",
                                       help="What production did: a "
                                       "recorded corpus. Repeat, with --simulated, per model."),
    simulated: list[str] = typer.Option(..., "--simulated", metavar="RUN",
                                        help="What the simulation "
                                        "predicted for the same model: a replay run folder."),
    rubric: str = typer.Option("default", "--rubric", "-r", metavar="RUBRIC",
                               help="Rubric file or shipped name."),
    confidence: float = typer.Option(0.95, "--confidence", metavar="LEVEL", help="Interval level."),
    history: str | None = typer.Option(None, "--history", metavar="PATH",
                                       help="Append what was measured to "
                                       "this calibration history (JSON; created on first "
                                       "use), which `deploysim predict --history` widens "
                                       "its intervals by."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Per behavior: observed rate, simulated rate and the multiplicative error max(s/o, o/s),
    with their median. Give several --observed/--simulated pairs (in release order) to also
    score how often the simulation got the direction of change right."""
    from deploysim.tables import print_calibration
    from grader.workflows import run_calibration

    outcome = run_calibration(observed, simulated, rubric, confidence=confidence,
                              history=history)
    if as_json:
        print_json(outcome.to_dict())
    else:
        print_calibration(outcome.result)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("calibrate", epilog=exit_codes({0: "measured"}))(calibrate)

"""`deploysim calibrate`: how close did the simulation come to what production showed?"""

from __future__ import annotations

import typer

from deploysim.console import out, print_json


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
    from deploysim.commands.gate import grade_verdicts
    from grader.calibrate import calibrate as run_calibration
    from grader.gate import behavior_specs
    from grader.gate_errors import EmptyRunError
    from grader.rubric import load_rubric
    from recorder.errors import UsageError
    from recorder.run import is_run, read_manifest

    if len(observed) != len(simulated):
        raise UsageError(f"Got {len(observed)} --observed but {len(simulated)} --simulated; "
                         "give them in pairs, one of each per model.")
    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence {confidence} is not between 0.5 and 1; use e.g. 0.95.")
    rub = load_rubric(rubric)
    specs = behavior_specs(rub)
    pairs = []
    for obs, sim in zip(observed, simulated, strict=True):
        if not is_run(sim):
            raise UsageError(f"--simulated {sim} is not a run folder (no manifest.json); give "
                             "the --out folder of `deploysim replay`.")
        model = read_manifest(sim).model.get("name") or sim
        o, s = grade_verdicts(obs, rub), grade_verdicts(sim, rub)
        for verdicts, what in ((o, f"observed corpus {obs}"), (s, f"simulated run {sim}")):
            if not any(v.flagged is not None for v in verdicts):
                raise EmptyRunError(f"The {what} has no graded turns or sessions; give one "
                                    "with recorded sessions.")
        pairs.append((str(model), o, s))
    result = run_calibration(pairs, specs, confidence=confidence)
    from grader.calibration_history import append_history

    kept = append_history(history, result) if history else None
    if as_json:
        doc = result.to_dict()
        if kept is not None:
            doc["history"] = {"path": history, "entries": len(kept.entries)}
        print_json(doc)
        return
    from rich.table import Table

    from deploysim.commands.gate import print_wide
    from grader.report.svg import fmt_num, fmt_rate

    for pair in result.pairs:
        table = Table("behavior", "observed", "simulated", "multiplicative error",
                      title=f"{pair.label}")
        for bid, b in pair.behaviors.items():
            if not b.informative:  # 0 vs 0: an error of 1× would claim an accuracy not shown
                shown = (f"– (0 of {b.observed.n:,} observed, 0 of {b.simulated.n:,} simulated:"
                         " nothing to compare)") if b.error else "–"
            else:
                shown = f"{fmt_num(b.error)}×" + (" (corrected)" if b.corrected else "")
            table.add_row(bid, fmt_rate(b.observed.rate), fmt_rate(b.simulated.rate), shown)
        print_wide(table)
    med = result.median_error
    out.print(f"median multiplicative error: {fmt_num(med) + '×' if med else '–'}", markup=False)
    if len(result.pairs) > 1:
        acc = result.direction_accuracy
        out.print(f"direction of change right: {'–' if acc is None else f'{acc:.0%}'} of "
                  f"{len(result.directions)} behavior changes", markup=False)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("calibrate", epilog=exit_codes({0: "measured"}))(calibrate)

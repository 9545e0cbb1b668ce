"""`deploysim robustness`: one model, the same sessions, several environment states."""

from __future__ import annotations

import json
import os

import typer

from deploysim.console import err, out, print_json


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
    from deploysim.commands.gate import grade_verdicts, read_run
    from grader.gate import behavior_specs
    from grader.report import sibling
    from grader.report.robustness import render_robustness_html
    from grader.robustness import ProfileRun
    from grader.robustness import robustness as run_robustness
    from grader.rubric import load_rubric
    from recorder.errors import UsageError

    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence {confidence} is not between 0.5 and 1; use e.g. 0.95.")
    if report:
        from deploysim.outputs import check_out_file

        check_out_file(report, option="--report")
    manifests = [read_run(r, "given") for r in runs]
    rub = load_rubric(rubric)
    from grader.robustness import check_same_sessions

    check_same_sessions([ProfileRun(r, m, []) for r, m in zip(runs, manifests, strict=True)])
    prof_runs = [ProfileRun(r, m, grade_verdicts(r, rub))
                 for r, m in zip(runs, manifests, strict=True)]
    result = run_robustness(prof_runs, behavior_specs(rub), confidence=confidence)
    doc = result.to_dict()
    if report:
        os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
        with open(report, "w", encoding="utf-8") as f:
            f.write(render_robustness_html(result))
        with open(sibling(report, ".json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
        doc["report"] = [report, sibling(report, ".json")]
    if as_json:
        print_json(doc)
        return
    from rich.table import Table

    from deploysim.commands.gate import print_wide
    from grader.change import pp
    from grader.report.svg import fmt_num, fmt_rate

    table = Table("behavior", *[r.label for r in result.runs])  # behaviors down, profiles across
    for b in result.behaviors:
        cells = []
        for r in result.runs:
            c = result.matrix[r.label][b.id]
            text = fmt_rate(c.estimate.rate)
            if c.change is not None:
                mark = "*" if c.change.significant else ""
                # with a zero on either side there is no ratio: the difference says it
                side = c.change.zero_side
                shown = f"{fmt_num(c.change.ratio)}×" if side is None else \
                    "no event in either" if side == "both" else pp(c.change.difference)
                text += f" ({shown}{mark})"
            cells.append(text)
        table.add_row(b.id, *cells)
    print_wide(table)
    out.print(f"changes against {result.reference}; * = significant at {confidence:.0%}",
              markup=False)
    if report:
        err.print(f"report: {report}", markup=False)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("robustness", epilog=exit_codes({0: "measured"}))(robustness)

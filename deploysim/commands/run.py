"""`deploysim run`: the whole pipeline from one deploysim.toml — replay baseline and candidate,
grade, predict, gate — resumable (docs/config.md).

Exit codes: 0 every gate passed, 1 a gate blocked, 2 a usage or configuration error (or a step
failed: its message says which; rerunning resumes after the steps already done).
"""

from __future__ import annotations

import os
from typing import Any

import typer

from deploysim.console import err, out, print_json


def run(
    config: str | None = typer.Option(None, "--config", "-c", metavar="FILE",
                                      help="The config (default: $DEPLOYSIM_CONFIG, else "
                                      "./deploysim.toml)."),
    progress: str | None = typer.Option(None, "--progress",
                                        help="The replays' progress: bar | log | off "
                                        "(default: bar on a terminal, else log)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Replay baseline and candidate under every profile and seed of the config, grade,
    predict (with `observed`) and gate; a second run redoes only what changed (exit 0 pass,
    1 block, 2 usage or configuration error)."""
    from deploysim.project.loading import ENV, FILENAME, NONE, ConfigError, find_config, load_config
    from deploysim.project.workflow import Pipeline

    if progress not in (None, "bar", "log", "off"):
        raise ConfigError(f"--progress {progress!r} is not known; use bar, log or off.")
    path = find_config(config)
    chosen = config if config is not None else os.environ.get(ENV)
    if path is None and chosen is not None and chosen.strip().lower() == NONE:
        where = "--config none" if config is not None else f"{ENV}=none"
        raise ConfigError(f"{where} asks for no config, and `deploysim run` runs the pipeline "
                          f"a config describes; give --config FILE (or drop {where} to use "
                          f"./{FILENAME}).")
    if path is None:
        raise ConfigError(f"No config to run: there is no ./{FILENAME} and neither --config nor "
                          "DEPLOYSIM_CONFIG names one; write one with `deploysim init`.")
    pipeline = Pipeline(load_config(path), say=lambda line: err.print(line, markup=False),
                        progress=progress)
    result = pipeline.run()
    if as_json:
        print_json(result.to_dict())
    else:
        _summary(result.to_dict())
    raise typer.Exit(result.exit_code)


def _summary(doc: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from grader.report.svg import fmt_rate

    colors = {"pass": "green", "block": "red", "inconclusive": "yellow"}
    for name, gate in doc["gates"].items():
        table = Table("behavior", "baseline", "candidate", "verdict", title=f"gate {name}")
        for bid, b in gate["behaviors"].items():
            verdict = str(b.get("verdict"))
            table.add_row(escape(bid), fmt_rate(b.get("baseline_rate")),
                          fmt_rate(b.get("candidate_rate")),
                          f"[{colors.get(verdict, 'yellow')}]{escape(verdict)}[/]")
        out.print(table)
        for reason in gate.get("reasons") or []:
            out.print(f"  {reason}", markup=False)
        reports = [p for p in gate.get("report") or [] if str(p).endswith(".html")]
        if reports:
            out.print(f"report: {reports[0]}", markup=False)
    decision = doc["decision"]
    color = "green" if decision == "pass" else "red"
    done = sum(1 for s in doc["steps"] if s["status"] != "done earlier")
    out.print(f"[bold {color}]{decision.upper()}[/] ({done} step(s) run now, "
              f"{len(doc['steps']) - done} done earlier; outputs in {escape(doc['out'])})")


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("run", epilog=exit_codes(
        {0: "every gate passed", 1: "a gate blocked",
         2: "a usage or configuration error, or a step failed (its message says which; "
            "rerunning resumes after the steps already done)"}))(run)

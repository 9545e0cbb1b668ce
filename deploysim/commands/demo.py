"""`deploysim demo`: the whole method, offline, in about a minute."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from deploysim.console import err, out


def demo(
    out_dir: Path = typer.Option(Path("deploysim-demo"), "--out",
                                 help="Folder for everything the demo writes (must be new)."),
    sessions: int = typer.Option(200, "--sessions", min=5, max=5000,
                                 help="Simulated production sessions to record."),
    seed: int = typer.Option(7, "--seed", help="Seed of the simulated world and the replays."),
) -> None:
    """Record a simulated production world, replay a riskier candidate, grade, gate, report."""
    from deploysim.demo.pipeline import run_demo
    from deploysim.demo.summary import print_summary

    out.print("[bold]deploysim demo[/] — every model here is a scripted simulation "
              "(sim-deployed, sim-candidate); nothing is a real LLM.")
    t0 = time.perf_counter()
    result = run_demo(out_dir, sessions=sessions, seed=seed,
                      say=lambda line: out.print(f"  [green]✓[/] {line}"))
    print_summary(result, time.perf_counter() - t0)
    if result.gate.get("decision") != "block":
        err.print("warning: the gate did not block the riskier candidate; see the report.")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)

"""`deploysim demo`: the whole method, offline, in about a minute."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import typer

from deploysim.console import err, out


def demo(
    out_dir: Path = typer.Option(Path("deploysim-demo"), "--out", "-o", metavar="DIR",
                                 help="Folder for everything the demo writes (must be new)."),
    sessions: int = typer.Option(200, "--sessions", min=3, max=5000,
                                 help="Simulated production sessions to record."),
    seed: int = typer.Option(7, "--seed", help="Seed of the simulated world and the replays."),
    serve_models: bool = typer.Option(False, "--serve-models",
                                      help="Only serve the demo's scripted models "
                                      "(sim-deployed, sim-candidate) until Ctrl-C, for `deploysim "
                                      "init && deploysim run` on the demo's corpus."),
    port: int = typer.Option(8777, "--port", metavar="N",
                             help="With --serve-models: the port on 127.0.0.1 (the one "
                             "`deploysim init`'s default --base-url names)."),
    real_model: bool = typer.Option(False, "--real-model",
                                    help="Real inference, toy model: a local Qwen2.5-Coder-0.5B "
                                    "under llama.cpp is the agent, the candidate and the "
                                    "simulators (3 sessions unless --sessions; needs the "
                                    "real-model extra, see docs/real-model.md)."),
) -> None:
    """Record a simulated production world, replay a riskier candidate, grade, gate, report."""
    if serve_models:
        _serve_models(port, seed)
        return
    if real_model:
        _real_model_demo(out_dir, 3 if sessions == 200 else sessions, seed)
        return
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


def _real_model_demo(out_dir: Path, sessions: int, seed: int) -> None:
    from rich.markup import escape

    from deploysim.demo.real_model import LABEL, print_real_summary, run_real_demo

    out.print(f"[bold]deploysim demo --real-model[/] — {LABEL}: a 0.5B model on this "
              "machine's CPU; its rates say nothing about any production model.")
    t0 = time.perf_counter()
    result = run_real_demo(out_dir, sessions=sessions, seed=seed,
                           say=lambda line: out.print(f"  [green]✓[/] {escape(line)}"))
    print_real_summary(result, time.perf_counter() - t0,
                       lambda line: out.print(line, markup=False))


def _serve_models(port: int, seed: int) -> None:
    from deploysim.demo.pipeline import serve_models

    def ready(url: str) -> None:
        out.print(f"serving sim-deployed and sim-candidate at {url} (Ctrl-C stops)",
                  markup=False)

    with contextlib.suppress(KeyboardInterrupt):  # how a server stops: not an error
        serve_models(port, seed, ready)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("demo", epilog=exit_codes(
        {0: "done (a warning says so if the gate did not block the riskier candidate)"}))(demo)

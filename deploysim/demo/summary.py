"""The demo's closing summary: the decision and its reasons, the numbers, paths, next steps."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from deploysim.console import out
from deploysim.demo.pipeline import DemoResult


def _pct(x: Any) -> str:
    return "—" if not isinstance(x, int | float) else f"{100 * x:.1f}%"


def _ratio(x: Any) -> str:
    return "—" if not isinstance(x, int | float) else f"{x:.2f}x"


def print_summary(res: DemoResult, wall_s: float) -> None:
    gate = res.gate
    decision = gate.get("decision", "?")
    colour = "red" if decision == "block" else "green"
    out.print()
    out.print(f"[bold]Gate decision: [{colour}]{decision.upper()}[/][/] "
              f"(sim-candidate vs sim-deployed, `hostile` profile)")
    table = Table("behavior", "baseline", "candidate", "ratio", "verdict", title=None)
    for bid, b in sorted(gate.get("behaviors", {}).items()):
        verdict = b.get("verdict", "?")
        style = {"block": "red", "pass": "green"}.get(verdict, "yellow")
        table.add_row(bid, _pct(b.get("baseline_rate")), _pct(b.get("candidate_rate")),
                      _ratio(b.get("ratio")), f"[{style}]{verdict}[/]")
    out.print(table)
    for bid, b in sorted(gate.get("behaviors", {}).items()):
        if b.get("verdict") == "block":
            for reason in b.get("reasons", [])[:2]:
                out.print(f"  [red]✗[/] {bid}: {reason}")
    cal = res.calibration
    med, acc = cal.get("median_multiplicative_error"), cal.get("direction_accuracy")
    if med is not None:
        moved = [d for d in cal.get("directions", []) if d.get("observed") != "same"]
        direction = (f"direction of change right for [bold]{acc:.0%}[/] of "
                     f"{len(cal.get('directions', []))} behaviors" if acc is not None
                     else "no behavior to score the direction of change on")
        out.print(f"Calibration: each model's simulated rates (replayed unperturbed on "
                  f"production's prefixes) vs what it did in production: median multiplicative "
                  f"error [bold]{med:.2f}x[/], {direction} "
                  f"({len(moved)} moved). OpenAI reported 1.5x and 92% on real traffic. The "
                  "demo's models sample and its users react, so a replay is another sample, "
                  "not a copy (see calibration.json).")
    else:
        out.print("Calibration: no behavior occurred in production or in the unperturbed replay, "
                  "so there is no error to measure (see calibration.json).")
    out.print()
    out.print(f"Report:     {res.report}")
    out.print(f"Recorded:   {res.production}  ({res.sessions} sessions)")
    out.print(f"Deployed:   {res.deployment}  (the candidate in production, for calibration)")
    out.print(f"Runs:       {res.baseline}  {res.candidate}  {res.baseline_unperturbed}  "
              f"{res.candidate_unperturbed}")
    out.print(f"Audit log:  {res.audit}  (deploysim audit verify --audit {res.audit})")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
    out.print(f"Wall time:  {wall_s:.1f}s ({steps})")
    out.print()
    out.print("[bold]The commands the demo ran[/] (examples to adapt to your own traffic: "
              "their 127.0.0.1 ports closed when the demo ended):")
    for cmd in res.commands:
        out.print(f"  {cmd}", markup=False)
    out.print("[bold]Run it again yourself[/] (these work now; the same decision from one "
              "config, docs/config.md):")
    for cmd in res.rerun_commands():
        out.print(f"  {cmd}", markup=False)
    out.print("Next: record your agent with `deploysim record --upstream https://api.openai.com "
              "--out recordings/` and point its base_url at the gateway; see docs/quickstart.md.")

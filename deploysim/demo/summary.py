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
    med = cal.get("median_multiplicative_error")
    if med is not None:
        out.print(f"Calibration: the deployed model's simulated rates (replayed unperturbed) vs "
                  f"the rates production showed: median multiplicative error [bold]{med:.2f}x[/] "
                  "(OpenAI reported 1.5x on real traffic; a scripted model replays almost "
                  "exactly).")
    else:
        out.print("Calibration: no behavior occurred in production or in the unperturbed replay, "
                  "so there is no error to measure (see calibration.json).")
    out.print()
    out.print(f"Report:     {res.report}")
    out.print(f"Recorded:   {res.production}  ({res.sessions} sessions)")
    out.print(f"Runs:       {res.baseline}  {res.candidate}  {res.baseline_unperturbed}")
    out.print(f"Audit log:  {res.audit}  (deploysim audit verify --db {res.audit})")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
    out.print(f"Wall time:  {wall_s:.1f}s ({steps})")
    out.print()
    out.print("[bold]The commands the demo ran[/] (try them on your own traffic):")
    for cmd in res.commands:
        out.print(f"  {cmd}", markup=False)
    out.print("Next: record your agent with `deploysim record --upstream https://api.openai.com "
              "--out recordings/` and point its base_url at the gateway; see docs/quickstart.md.")

"""`deploysim replay` end to end against a model endpoint with a fixed latency, side by side.

A fake OpenAI-compatible model (`python -m replayer.testing.fake_model --policy constant`,
served by aiohttp, its own process on loopback) answers every request after LATENCY seconds
with a short text reply, so each turn is one model call and the ideal rate is
CONCURRENCY / LATENCY turns per second. Each variant is the whole `deploysim replay` command
as a user runs it (a subprocess: interpreter start-up, imports, corpus scan, execution, final
tally) with the variant's extra options; variants alternate, run after run, so a noisy shared
machine weighs on all of them alike. Reported per variant (medians over the repeats):

- `wall s`: the command's wall time; `turns/s`: turns written / wall s;
- `run turns/s`: over the execution phase only (`summary["run_s"]`);
- `CPU s`: the CPU time of the command and every process it started (its rusage children,
  so worker processes are counted once they have been waited for); `CPU ms/turn`;
- `run CPU ms/turn`: the replaying processes' CPU during the execution phase only
  (`summary["cpu_s"] + summary["coordinator_cpu_s"]`) / turns: 1000 / it is the rate one
  process could sustain on a core of its own;
- `server CPU ms/req`: the fake model's CPU during the run (from /proc) / turns;
- `load`: the 1-minute load average just before the run (other work on the machine).

`--server NAME=ROOT` runs the fake model from another source tree (ROOT on PYTHONPATH, e.g.
an older checkout) as well, alternating servers inside each repeat: a before/after of the fake
model's transport with the replayer unchanged. (The 6 Dec 2026 comparison of one process with
the retired fork pool, docs/scaling.md, ran with `--variant "2 workers=--workers 2"`.)

    .venv/bin/python bench/replay_endpoint.py --latency 0.2 --concurrency 256 --turns 10000
    .venv/bin/python bench/replay_endpoint.py --variant "one process=" \\
        --variant "uncached=--no-cache"
    .venv/bin/python bench/replay_endpoint.py --latency 0.05 --concurrency 64 --turns 4000 \\
        --server before=/tmp/old-checkout --results replay_endpoint_fake_server.json

Prints a table and writes bench/results/replay_endpoint.json (or `--results NAME`). Not a
test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.replay_setup import (  # noqa: E402
    children_cpu,
    run_replay,
    start_fake_model,
    write_corpora,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_once(url: str, server_pid: int, corpus: str, out: str, concurrency: int,
             extra: list[str]) -> dict[str, Any]:
    """One `deploysim replay` command, end to end."""
    load = os.getloadavg()[0]
    server0, cpu0 = process_cpu(server_pid), children_cpu()
    summary, wall = run_replay(url, corpus, out, concurrency, extra)
    cpu, server = children_cpu() - cpu0, process_cpu(server_pid) - server0
    turns = summary["written"]
    return {"turns": turns, "wall_s": wall, "turns_per_s": turns / wall,
            "run_turns_per_s": turns / summary["run_s"], "cpu_s": cpu,
            "cpu_ms_per_turn": 1000 * cpu / turns,
            "run_cpu_ms_per_turn": 1000 * (summary["cpu_s"] + summary["coordinator_cpu_s"])
            / turns,
            "server_cpu_ms_per_req": 1000 * server / turns, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=OPTIONS",
                        help="a variant: its name and the extra `deploysim replay` options "
                             "(default: one variant, 'one process=')")
    parser.add_argument("--server", action="append", default=[], metavar="NAME=ROOT",
                        help="also serve the fake model from the source tree ROOT")
    parser.add_argument("--results", default="replay_endpoint.json", metavar="NAME",
                        help="file name under bench/results/")
    args = parser.parse_args()
    variants = [(name, shlex.split(opts)) for name, _, opts in
                (v.partition("=") for v in args.variant or ["one process="])]
    roots = [("this tree", ROOT)] + [(n, Path(r).resolve()) for n, _, r in
                                     (s.partition("=") for s in args.server)]
    tmp = tempfile.mkdtemp(prefix="dsim-endpoint-")
    corpus, warm = write_corpora(tmp, args.turns)
    servers = [(name, *start_fake_model(args.latency, root)) for name, root in roots]
    cells = [(s, v) for s in servers for v in variants]
    results: dict[str, list[dict[str, Any]]] = {}
    counter = iter(range(1_000_000))
    try:
        for (_sname, sproc, url), (_vname, extra) in cells:  # warm-up: page cache, bytecode
            run_once(url, sproc.pid, warm, os.path.join(tmp, f"warm-{next(counter)}"),
                     args.concurrency, extra)
        for r in range(args.repeat):
            order = cells if r % 2 == 0 else cells[::-1]
            for (sname, sproc, url), (vname, extra) in order:
                label = vname if len(servers) == 1 else f"{vname}, server: {sname}"
                run = run_once(url, sproc.pid, corpus, os.path.join(tmp, f"run-{next(counter)}"),
                               args.concurrency, extra)
                results.setdefault(label, []).append(run)
                print(f"  {label}: {run['turns_per_s']:.1f} turns/s, {run['wall_s']:.1f} s, "
                      f"load {run['load']:.1f}", file=sys.stderr, flush=True)
    finally:
        for _name, proc, _url in servers:
            proc.terminate()
            proc.wait(10)
    ideal = args.concurrency / args.latency
    keys = ("wall_s", "turns_per_s", "run_turns_per_s", "cpu_s", "cpu_ms_per_turn",
            "run_cpu_ms_per_turn", "server_cpu_ms_per_req", "load")
    rows = [{"variant": label, "turns": runs[0]["turns"],
             **{k: round(statistics.median(r[k] for r in runs), 3) for k in keys},
             "of_ideal": round(statistics.median(r["turns_per_s"] for r in runs) / ideal, 3),
             "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs]}
            for label, runs in results.items()]
    print(f"ideal {ideal:.0f} turns/s (concurrency {args.concurrency} / latency "
          f"{args.latency}s); median of {args.repeat} alternating runs; nproc {os.cpu_count()}")
    print(f"{'variant':<34}{'turns':>7}{'wall s':>8}{'turns/s':>9}{'of ideal':>9}"
          f"{'run turns/s':>12}{'CPU s':>8}{'CPU ms/turn':>12}{'run CPU ms/turn':>16}"
          f"{'server ms/req':>14}{'load':>6}")
    for row in rows:
        print(f"{row['variant']:<34}{row['turns']:>7}{row['wall_s']:>8.1f}"
              f"{row['turns_per_s']:>9.1f}{100 * row['of_ideal']:>8.1f}%"
              f"{row['run_turns_per_s']:>12.1f}{row['cpu_s']:>8.1f}{row['cpu_ms_per_turn']:>12.3f}"
              f"{row['run_cpu_ms_per_turn']:>16.3f}{row['server_cpu_ms_per_req']:>14.3f}"
              f"{row['load']:>6.1f}")
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    doc = {"benchmark": "replay_endpoint", "ideal_turns_per_s": ideal,
           "concurrency": args.concurrency, "latency_s": args.latency, "turns": args.turns,
           "repeat": args.repeat, "nproc": os.cpu_count(), "python": platform.python_version(),
           "command": " ".join([os.path.relpath(sys.executable), *sys.argv]), "rows": rows}
    (results_dir / args.results).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()

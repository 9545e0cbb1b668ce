"""The calibration world: how well do deployment-time predictions hold up?

    .venv/bin/python bench/fidelity.py                 # the full world (<= 15 min on 2 cores)
    .venv/bin/python bench/fidelity.py --quick         # a small world, for development

Records a chain of windows (release k in production, release k+1 deployed) through
`deploysim record`, replays and grades through `deploysim replay`/`grade`, scores each
estimate per (release pair, behaviour) against the deployment window's truth, measures the
noise floor (one model measured twice) and the ablations (each error source off in turn).
Writes bench/results/fidelity.json and docs/performance/fidelity.md. See bench/fidelity/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fidelity import estimates  # noqa: E402
from bench.fidelity.bounds import add_bounds  # noqa: E402
from bench.fidelity.params import Switches, WorldConfig  # noqa: E402
from bench.fidelity.report import ABLATIONS, write  # noqa: E402
from bench.fidelity.variants import add_variants  # noqa: E402
from bench.fidelity.world import (  # noqa: E402
    WorldRun,
    add_predictions,
    cells,
    noise_floor,
    rescore_world,
    run_world,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=None,
                    help="sessions per window (default 1500; --quick: 150)")
    ap.add_argument("--ablation-sessions", type=int, default=None,
                    help="sessions per window in the ablation worlds (default: a quarter)")
    ap.add_argument("--quick", action="store_true", help="a small world for development")
    ap.add_argument("--no-ablations", action="store_true")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--keep", type=Path, default=None, help="keep the worlds' files here")
    ap.add_argument("--rescore", action="store_true",
                    help="score the worlds kept in --keep again, recording nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fidelity.json")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance" / "fidelity.md")
    args = ap.parse_args()
    sessions = args.sessions or (150 if args.quick else 1500)
    abl_sessions = args.ablation_sessions or max(50, sessions // 4)
    if args.rescore and args.keep is None:
        ap.error("--rescore needs --keep DIR (the folder of an earlier run)")
    t0 = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fidelity-"))

    def world(cfg: WorldConfig, path: Path, full: bool) -> WorldRun:
        if args.rescore:
            return rescore_world(cfg, path)
        return run_world(cfg, path, rollout=full, noise=full)

    def scored(run: WorldRun, main: bool = False) -> list[dict[str, object]]:
        table = cells(run)
        add_variants(run.windows, run.runs, [run.cfg.window(k).mix for k in range(4)], table,
                     run.cfg.seed, run.cfg.switches.grader_error)
        add_bounds(run.cfg, run.windows, run.runs, table)
        if estimates.predict_available():
            add_predictions(run, table, corrections_off=main)
        return table

    try:
        cfg = WorldConfig(sessions=sessions, seed=args.seed)
        print(f"world: {sessions} sessions per window, seed {args.seed}")
        main_run = world(cfg, work / "world", True)
        table = scored(main_run, main=True)
        results: dict[str, Any] = {
            "world": main_run, "cells": table, "noise": noise_floor(main_run),
            "no_grader_error": cells(main_run, grader_error=False), "ablations": {}}
        if not args.no_ablations:
            for name in ABLATIONS:
                if name == "grader_error":
                    continue  # the main world regraded without it (above)
                acfg = WorldConfig(sessions=abl_sessions, seed=args.seed,
                                   switches=dataclasses.replace(Switches(), **{name: False}))
                print(f"ablation: {name} off ({abl_sessions} sessions per window)")
                arun = world(acfg, work / f"no-{name}", False)
                results["ablations"][name] = scored(arun)
            acfg = WorldConfig(sessions=abl_sessions, seed=args.seed)
            print(f"ablation reference: everything on ({abl_sessions} sessions per window)")
            results["ablations"]["none"] = scored(world(acfg, work / "all-on", False))
        took = time.perf_counter() - t0
        elapsed: float | None = took
        if args.rescore and args.out.exists():  # keep what the recording run measured
            before = json.loads(args.out.read_text())
            elapsed = before["elapsed_s"]  # None when the recording's wall time was not kept
            main_run.recorded, main_run.timings = before["recorded"], before["timings"]
            if before.get("timing_note"):
                results["timing_note"] = before["timing_note"]
        write(results, args, sessions, abl_sessions, elapsed)
        print(f"done in {took:.0f} s: {args.out}, {args.doc}")
    finally:
        if args.keep is None and not args.rescore:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

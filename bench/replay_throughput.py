"""Replay throughput: how close `deploysim replay` gets to the endpoint's limit.

A scripted fake model (another process) answers every request after LATENCY seconds with a
plain text reply, so each turn is exactly one model call and the ideal rate is
CONCURRENCY / LATENCY turns per second. Measured side by side in the same run:

- `bare aiohttp`: the same requests from a minimal aiohttp loop (no deploysim machinery) —
  the ceiling this machine and fake server allow;
- `deploysim local`: `deploysim replay` with the local executor, in one process;
- `deploysim ray`: the Ray executor with N local workers (skipped if Ray is missing);
- `in-process model`: the same executors with the fake model inside the replaying process(es)
  (a `ModelClient` that waits LATENCY and answers `ok`, no HTTP, no server process): what
  deploysim's own machinery allows when the endpoint costs nothing.

The local variants run first, with no Ray cluster on the machine (an idle cluster's GCS,
raylet and workers poll, and on 2 cores that CPU comes out of every other variant); the Ray
variants run after them, once Ray is started. Each deploysim variant is preceded by a small
warm-up run (imports, Ray worker start).
turns/s is over the execution phase (`summary["run_s"]`: from the moment the pending work is
known and handed to the shards until the last shard reports). CPU ms/turn is the CPU time of
every replaying process during that phase (each shard's, plus the parent's coordination) /
turns. `whole s` is the wall time of the whole `replay()` call — corpus scan, selection, stub
index, manifest and the final tally — and `whole CPU s` its CPU time (not measured for Ray,
whose workers are the Ray cluster's). Neither includes the interpreter start-up and imports
every `deploysim` command pays alike (~0.6 s CPU here); `command s` and `command CPU s` do:
the whole `deploysim replay ...` command run as a subprocess, over HTTP (once per repeat,
besides the runs above). `bench/replay_endpoint.py` measures whole commands only, against an
endpoint with a realistic latency.
Every variant, the fake server and the Ray shards run on the event loop the
CLI uses (`runtime.event_loop.run`: uvloop when installed); `DEPLOYSIM_EVENT_LOOP=asyncio` runs them
all on asyncio's own loop instead, for comparison.

    .venv/bin/python bench/replay_throughput.py                 # 2,000 turns, concurrency 64
    .venv/bin/python bench/replay_throughput.py --turns 200     # small
    .venv/bin/python bench/replay_throughput.py --no-ray
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aiohttp

from bench.replay_setup import children_cpu, run_replay, start_fake_model, write_corpora
from recorder.session import ContentPart, Message
from replayer.replay import replay
from replayer.replay_config import ReplayConfig
from replayer.wire import openai_chat
from runtime.event_loop import loop_name
from runtime.event_loop import run as aio_run


async def bare(url: str, corpus: str, concurrency: int) -> dict[str, Any]:
    """The same requests from a minimal loop: encode, POST, decode; nothing else."""
    from recorder.corpus import Corpus
    from recorder.turns import turns

    bodies = [openai_chat.encode_request("sim-candidate", t.prefix(s), s.tools, s.params)
              for s in Corpus(corpus).sessions() for t in turns(s)]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with http.post(url + "/chat/completions", json=body) as resp:
                    openai_chat.decode_response(await resp.json())

        cpu, t0 = time.process_time(), time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu
    return {"turns": len(bodies), "wall_s": wall, "cpu_s": cpu}


class InProcessModel:
    """A simulated model inside the replaying process: waits, then answers `ok`."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def complete(self, messages: Any, *, tools: Any = (), params: Any = None) -> Message:
        await asyncio.sleep(self.latency)
        return Message(role="assistant", content=[ContentPart(text="ok")], finish_reason="stop",
                       usage={"input_tokens": 100, "output_tokens": 1})

    async def close(self) -> None:
        pass


class InProcessFactory:
    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __call__(self, config: ReplayConfig, model: str, accounting: Any) -> InProcessModel:
        return InProcessModel(self.latency)


def run_cli(url: str, corpus: str, out: str, concurrency: int) -> dict[str, Any]:
    """The whole `deploysim replay` command as a user runs it (interpreter start-up, imports
    and all): its wall time and the CPU of it and its children."""
    children = children_cpu()
    summary, wall = run_replay(url, corpus, out, concurrency)
    return {"command_s": wall, "command_cpu_s": children_cpu() - children,
            "command_turns_per_s": summary["written"] / wall}


def run_deploysim(url: str, corpus: str, out: str, concurrency: int, executor: str,
                  workers: int, in_process: float | None = None) -> dict[str, Any]:
    config = ReplayConfig(corpus=[corpus], out=out, model="sim-candidate", base_url=url,
                          concurrency=concurrency, executor=executor,
                          ray_workers=workers if executor == "ray" else None)
    factory = InProcessFactory(in_process) if in_process is not None else None
    cpu, children, t0 = time.process_time(), children_cpu(), time.monotonic()
    summary = aio_run(replay(config, progress_mode="off", client_factory=factory))
    whole = time.monotonic() - t0
    whole_cpu = time.process_time() - cpu + children_cpu() - children
    assert summary["counts"]["errors"] == 0, summary["errors_by_reason"]
    return {"turns": summary["written"], "wall_s": summary["run_s"],
            "cpu_s": summary["cpu_s"] + summary["coordinator_cpu_s"], "whole_s": whole,
            "whole_cpu_s": whole_cpu if executor == "local" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    parser.add_argument("--ray-workers", type=int, default=2, help="Ray workers")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    ray_workers = args.ray_workers
    ideal = args.concurrency / args.latency
    tmp = tempfile.mkdtemp(prefix="dsim-bench-")
    corpus, warm = write_corpora(tmp, args.turns)
    server, url = start_fake_model(args.latency)
    ray_ok = not args.no_ray
    if ray_ok:
        try:
            import ray
        except ImportError:
            ray_ok = False
    # (name, executor, processes)
    local = [("local", "local", 1)]
    remote = [(f"ray ({ray_workers} workers)", "ray", ray_workers)] if ray_ok else []
    results: dict[str, list[dict[str, Any]]] = {"bare aiohttp": []}
    for label, _executor, _n in local + remote:
        results[f"deploysim {label}"] = []
    for label, _executor, _n in local + remote:
        results[f"in-process model, {label}"] = []
    commands: dict[str, list[dict[str, Any]]] = {}
    counter = iter(range(1_000_000))

    def measure(setups: list[tuple[str, str, int]], bare_too: bool) -> None:
        for _label, executor, workers in setups:
            run_deploysim(url, warm, os.path.join(tmp, f"warm-{next(counter)}"),
                          args.concurrency, executor, workers)
        for _ in range(args.repeat):
            if bare_too:
                results["bare aiohttp"].append(aio_run(bare(url, corpus, args.concurrency)))
            for label, executor, workers in setups:
                if executor == "local":
                    commands.setdefault(f"deploysim {label}", []).append(run_cli(
                        url, corpus, os.path.join(tmp, f"run-{next(counter)}"),
                        args.concurrency))
                for name, in_process in ((f"deploysim {label}", None),
                                         (f"in-process model, {label}", args.latency)):
                    results[name].append(run_deploysim(
                        url, corpus, os.path.join(tmp, f"run-{next(counter)}"),
                        args.concurrency, executor, workers, in_process))

    try:
        # the local variants first, with no Ray on the machine: an idle Ray cluster (GCS,
        # raylet, workers) polls and takes CPU from everything else on 2 cores
        measure(local, bare_too=True)
        if remote:
            import ray

            ray.init(num_cpus=ray_workers, include_dashboard=False, log_to_driver=False)
            try:
                measure(remote, bare_too=False)
            finally:
                ray.shutdown()
    finally:
        server.terminate()
        server.wait()
    rows = []
    for name, runs in results.items():
        rates = [r["turns"] / r["wall_s"] for r in runs]
        cpu_ms = [1000 * r["cpu_s"] / r["turns"] for r in runs]
        row = {"variant": name, "turns": runs[0]["turns"],
               "turns_per_s": round(statistics.median(rates), 1),
               "of_ideal": round(statistics.median(rates) / ideal, 3),
               "cpu_ms_per_turn": round(statistics.median(cpu_ms), 3),
               "whole_s": None, "whole_cpu_s": None,
               "runs": [{k: None if v is None else round(v, 4) for k, v in r.items()}
                        for r in runs]}
        if "whole_s" in runs[0]:
            row["whole_s"] = round(statistics.median(r["whole_s"] for r in runs), 3)
            cpus = [r["whole_cpu_s"] for r in runs if r["whole_cpu_s"] is not None]
            row["whole_cpu_s"] = round(statistics.median(cpus), 3) if cpus else None
        if name in commands:
            for key in ("command_s", "command_cpu_s"):
                row[key] = round(statistics.median(c[key] for c in commands[name]), 3)
            row["command_runs"] = [{k: round(v, 4) for k, v in c.items()}
                                   for c in commands[name]]
        rows.append(row)
    print(f"ideal {ideal:.0f} turns/s (concurrency {args.concurrency} / latency "
          f"{args.latency}s); median of {args.repeat} runs; nproc {os.cpu_count()}; "
          f"event loop {loop_name()}")
    print(f"{'variant':<38}{'turns':>7}{'turns/s':>10}{'of ideal':>10}{'CPU ms/turn':>13}"
          f"{'whole s':>9}{'whole CPU s':>13}{'command s':>11}{'command CPU s':>15}")
    for r in rows:
        cells = ["" if r.get(k) is None else r[k]
                 for k in ("whole_s", "whole_cpu_s", "command_s", "command_cpu_s")]
        print(f"{r['variant']:<38}{r['turns']:>7}{r['turns_per_s']:>10}"
              f"{100 * r['of_ideal']:>9.1f}%{r['cpu_ms_per_turn']:>13}{cells[0]:>9}"
              f"{cells[1]:>13}{cells[2]:>11}{cells[3]:>15}")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    doc = {"benchmark": "replay_throughput", "ideal_turns_per_s": ideal,
           "concurrency": args.concurrency, "latency_s": args.latency, "turns": args.turns,
           "repeat": args.repeat, "nproc": os.cpu_count(), "python": platform.python_version(),
           "event_loop": loop_name(),
           "command": " ".join([os.path.relpath(sys.executable), *sys.argv]), "rows": rows}
    with open(os.path.join(os.path.dirname(__file__), "results", "replay_throughput.json"),
              "w") as f:
        json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()

"""Deriving sessions from a large recording: peak memory and wall time, in-memory vs streamed.

    python bench/derive.py                     # ~200 MB corpus (generated once, then reused)
    python bench/derive.py --mb 20             # smoke size

The corpus is `bench/sessions.py`'s production mix (concurrent agent sessions over OpenAI
Chat JSON and SSE, Anthropic SSE and Responses chains, each turn calling an MCP or REST tool,
3% retries), written to one cassette in an order unrelated to time. Each mode runs in its own
child process, so its peak RSS (`ru_maxrss`) is its own:

- **read** — only decode every exchange of the cassette (the floor of any pass over it);
- **list** — `derive_sessions(list(exchanges))`: what the recorder's clean stop did before
  (every exchange and every parsed call alive at once);
- **stream** — `SessionStream`: two streamed passes, sessions produced one at a time and
  dropped, as the recorder's clean stop does now;
- **rederive** — `deploysim derive` of the corpus into a new cassette.

Writes bench/results/derive.json. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

RESULTS = HERE / "results" / "derive.json"
MODES = ("read", "list", "stream", "rederive")


def build_corpus(path: Path, mb: int) -> dict[str, Any]:
    """Write about `mb` MB of exchanges to `path` (reused when it is already there)."""
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("mb") == mb:
            return dict(meta)
    from sessions import World  # bench/sessions.py: the same production mix

    from recorder.writer import CassetteWriter

    t0 = time.perf_counter()
    world = World(7)
    target = mb * 1_000_000
    n = k = 0
    batch: list[Any] = []
    with CassetteWriter(str(path), producer="bench/derive.py", durability="close") as w:
        while True:
            batch.extend(world.session(k, 1.7e9 + (k // 50) * 30.0 + (k % 50) * 0.37))
            k += 1
            if len(batch) >= 5000:  # shuffled within a window: file order is not time order
                batch.sort(key=lambda e: e.id[::-1])
                for ex in batch:
                    w.write(ex)
                n += len(batch)
                batch = []
                if os.path.getsize(path) >= target:
                    break
    meta = {"mb": mb, "bytes": os.path.getsize(path), "exchanges": n,
            "generate_s": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta))
    return meta


def child(mode: str, corpus: str, out_dir: str) -> dict[str, Any]:
    """Run one mode in this (fresh) process; what it produced, wall and CPU time, peak RSS."""
    from recorder.corpus import Corpus

    c0, w0 = time.process_time(), time.perf_counter()
    sessions = exchanges = 0
    if mode == "read":
        exchanges = sum(1 for _ in Corpus(corpus).exchanges())
    elif mode == "list":
        from recorder.derive import derive_sessions

        items = list(Corpus(corpus).exchanges())
        exchanges = len(items)
        sessions = len(derive_sessions(items))
    elif mode == "stream":
        from recorder.derive import SessionStream

        source = Corpus(corpus)
        stream = SessionStream(source.exchanges)
        for _ in stream:
            sessions += 1
        exchanges = stream.exchanges
    elif mode == "rederive":
        from recorder.rederive import rederive

        _, report = rederive(corpus, out_dir, redact=False)
        sessions, exchanges = report["sessions"], report["exchanges"]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "exchanges": exchanges, "sessions": sessions,
            "wall_s": round(time.perf_counter() - w0, 2),
            "cpu_s": round(time.process_time() - c0, 2), "peak_rss_mb": round(peak_kb / 1024)}


def run(mode: str, corpus: Path) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, str(corpus), out],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{mode}: failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="corpus size in MB (default 200)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "deploysim-bench"),
                    help="where the generated corpus is kept between runs")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of "
                    + ", ".join(MODES))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    corpus = Path(args.dir) / f"derive-{args.mb}mb.cassette"
    meta = build_corpus(corpus, args.mb)
    print(f"corpus: {corpus} ({meta['bytes'] / 1e6:.0f} MB, {meta['exchanges']} exchanges)")
    rows = []
    for mode in args.modes.split(","):
        row = run(mode, corpus)
        if row is not None:
            print(" | ".join(f"{k}={v}" for k, v in row.items()))
            rows.append(row)
    meta.update({"python": sys.version.split()[0], "nproc": os.cpu_count(),
                 "loadavg_at_end": os.getloadavg()[0], "machine": platform.machine(),
                 "command": " ".join(["python", *sys.argv])})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

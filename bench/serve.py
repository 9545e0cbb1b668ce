"""Replay proxy benchmark: `deploysim serve` vs `mitmdump --server-replay`, same flows, one run.

Both targets serve the same recorded traffic — a REST tool call (`GET /customers/C-1`) and an
MCP `tools/call` (2026-07-28 generation: one stateless POST, JSON reply) — recorded by
`deploysim record` from real servers at the start of the run. mitmdump gets those exchanges as
a flows file written with mitmproxy's own `io.FlowWriter` and replays them in reverse-proxy
mode (`server_replay_reuse`, no refresh, unmatched requests 404). The load generator is its
own process, pinned to its own core (the target to the other one), sending keep-alive
HTTP/1.1 requests byte-identical for both targets and checking every answer.

Per round, for each target and workload: latency at concurrency 1 (p50/p99) and throughput
at concurrency 32 (with p50/p99 under that load). Rounds alternate target order; the report
gives medians over rounds and the per-round throughput ratio's median.

    .venv/bin/python bench/serve.py                          # 3 rounds x 4 s per cell
    .venv/bin/python bench/serve.py --rounds 1 --seconds 1   # small

Prints a table and writes bench/results/serve.json. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "serve.json"
BIN = Path(sys.executable).parent
UPSTREAM = ("127.0.0.1", 9)
"""Where mitmdump's reverse proxy would go; nothing listens there, every answer is replayed."""


# -- load generator (its own process) ---------------------------------------------------------

async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
    if length is not None:
        return status, await reader.readexactly(int(length.group(1)))
    if b"transfer-encoding: chunked" in lower:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return status, await reader.read()


async def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Keep `concurrency` connections busy for `seconds` (after a warm-up); latencies in µs."""
    host, port = spec["host"], spec["port"]
    request = spec["request"].encode("latin-1")
    check = spec["check"].encode()
    lat: list[float] = []
    errors = 0
    warm_until = time.perf_counter() + spec["warmup"]
    stop = warm_until + spec["seconds"]

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop:
                    return
                writer.write(request)
                status, body = await _read_response(reader)
                t1 = time.perf_counter()
                if t0 >= warm_until:
                    lat.append((t1 - t0) * 1e6)
                    if status != 200 or check not in body:
                        errors += 1
        finally:
            writer.close()

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    busy = (time.process_time() - cpu0) / (spec["warmup"] + spec["seconds"])
    lat.sort()
    return {"requests": len(lat), "errors": errors, "rps": len(lat) / spec["seconds"],
            "p50_us": _pct(lat, 0.50), "p99_us": _pct(lat, 0.99), "loadgen_cpu": busy}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def run_loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator in a fresh process pinned to CPU 1 (when there are two)."""
    proc = subprocess.run([sys.executable, __file__, "--loadgen", json.dumps(spec)],
                          capture_output=True, text=True, check=True,
                          preexec_fn=lambda: _pin(1))
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


# -- the recorded flows -----------------------------------------------------------------------

def record(work: str) -> str:
    """Record the corpus (real MCP server and REST tool through `deploysim record`)."""
    os.environ.setdefault("DEPLOYSIM_CONFIG_DIR", os.path.join(work, "config"))
    from proxy.replay.testing import record_corpus

    out = os.path.join(work, "corpus")
    asyncio.run(record_corpus(out))
    return out


def workloads(corpus: str) -> dict[str, dict[str, Any]]:
    """The two recorded requests both targets will be sent, byte for byte."""
    from recorder.corpus import Corpus
    from recorder.protocols.bodies import decode_body, encodings_of

    found: dict[str, dict[str, Any]] = {}
    for ex in Corpus(corpus).exchanges():
        url = ex.request.url
        path = "/" + url.split("/", 3)[3]
        body = ex.request.body
        if ex.route == "crm" and ex.request.method == "GET" and path == "/customers/C-1":
            found.setdefault("http", {"route": "crm", "path": path, "method": "GET",
                                      "headers": [("Accept", "application/json")], "body": b"",
                                      "check": '"Ada"'})
        elif ex.route == "weather" and b'"tools/call"' in body and b'"Paris"' in body and \
                b"2026-07-28" in body:
            keep = [(k, v) for k, v in ex.request.headers
                    if k.lower() in ("accept", "content-type") or k.lower().startswith("mcp-")]
            found.setdefault("mcp", {"route": "weather", "path": path, "method": "POST",
                                     "headers": keep,
                                     "body": decode_body(body, encodings_of(ex.request.headers)),
                                     "check": "Sunny in Paris"})
    assert set(found) == {"http", "mcp"}, f"the corpus lacks a workload: {sorted(found)}"
    return found


def write_flows(corpus: str, path: str) -> int:
    """Every recorded exchange as a mitmproxy flow (reverse proxy to UPSTREAM)."""
    from mitmproxy import connection, http, io

    from recorder.corpus import Corpus
    from recorder.protocols.bodies import decode_body, encodings_of

    n = 0
    with open(path, "wb") as f:
        writer = io.FlowWriter(f)
        for ex in Corpus(corpus).exchanges():
            if ex.response is None or ex.request.method not in ("GET", "POST"):
                continue
            rest = "/" + ex.request.url.split("/", 3)[3]
            request = http.Request.make(
                ex.request.method, f"http://{UPSTREAM[0]}:{UPSTREAM[1]}{rest}",
                decode_body(ex.request.body, encodings_of(ex.request.headers)),
                [(k.encode(), v.encode()) for k, v in ex.request.headers
                 if k.lower() not in ("content-length", "content-encoding", "host")])
            body = decode_body(ex.response.body, encodings_of(ex.response.headers))
            response = http.Response.make(ex.response.status, body, [
                (k.encode(), v.encode()) for k, v in ex.response.headers
                if k.lower() not in ("content-length", "content-encoding", "transfer-encoding",
                                     "connection")])
            flow = http.HTTPFlow(
                connection.Client(peername=("127.0.0.1", 50000), sockname=("127.0.0.1", 8080),
                                  timestamp_start=ex.started_at),
                connection.Server(address=UPSTREAM))
            flow.request, flow.response = request, response
            writer.add(flow)
            n += 1
    return n


# -- the targets ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the target exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def _exchanges(run_out: str) -> int:
    """Exchanges a capturing serve wrote (from its manifest)."""
    with open(os.path.join(run_out, "manifest.json")) as f:
        return int(json.load(f)["counts"]["exchanges"])


def start_serve(corpus: str, port: int, run_out: str | None) -> subprocess.Popen[bytes]:
    args = [str(BIN / "deploysim"), "serve", corpus, "--listen", f"127.0.0.1:{port}"]
    if run_out:
        args += ["--run-out", run_out]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: _pin(0))


def start_mitm(flows: str, port: int) -> subprocess.Popen[bytes]:
    args = [str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
            "--mode", f"reverse:http://{UPSTREAM[0]}:{UPSTREAM[1]}", "--server-replay", flows,
            "--set", "server_replay_reuse=true", "--set", "server_replay_refresh=false",
            "--set", "server_replay_extra=404", "--set", "server_replay_ignore_host=true",
            "--set", "connection_strategy=lazy"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: _pin(0))


def request_bytes(w: dict[str, Any], port: int, prefix: str) -> str:
    lines = [f"{w['method']} {prefix}{w['path']} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in w["headers"]]
    body: bytes = w["body"]
    if w["method"] == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body.decode("latin-1")


TARGETS = ("deploysim serve", "mitmdump --server-replay")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(target: str, proc: subprocess.Popen[bytes], port: int, w: dict[str, Any],
            args: argparse.Namespace) -> dict[str, Any]:
    # deploysim serves the tool under its route (/crm/..., /weather); mitmdump at the path
    # the upstream saw (/customers/..., /mcp)
    if target.startswith("deploysim"):
        prefix, path = f"/{w['route']}", w["path"] if w["route"] == "crm" else ""
    else:
        prefix, path = "", w["path"]
    req = request_bytes({**w, "path": path}, port, prefix)
    base = {"host": "127.0.0.1", "port": port, "request": req, "check": w["check"],
            "warmup": 0.5, "seconds": args.seconds}
    single = run_loadgen({**base, "concurrency": 1})
    cpu0, t0 = cpu_s(proc.pid), time.perf_counter()
    loaded = run_loadgen({**base, "concurrency": args.concurrency})
    used, wall = cpu_s(proc.pid) - cpu0, time.perf_counter() - t0
    # the target's own CPU per request (warm-up requests included in the count): on a shared,
    # noisy machine this is the steadiest measure of what each request costs the server
    cpu_us = used * 1e6 / max(1, loaded["requests"] * (1 + 0.5 / args.seconds))
    return {"c1_p50_us": single["p50_us"], "c1_p99_us": single["p99_us"],
            "rps": loaded["rps"], "load_p50_us": loaded["p50_us"],
            "load_p99_us": loaded["p99_us"], "cpu_us_per_request": cpu_us,
            # share of a core each side got while loaded: neither near 1.0 means the shared
            # machine's other work, not deploysim or mitmdump, set the pace
            "target_cpu_share": used / wall, "loadgen_cpu_share": loaded["loadgen_cpu"],
            "errors": single["errors"] + loaded["errors"],
            "requests": single["requests"] + loaded["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--capture", action="store_true",
                        help="also measure `deploysim serve --run-out` (capturing the run)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    if args.loadgen:
        sys.stdout.write(json.dumps(asyncio.run(loadgen(json.loads(args.loadgen)))))
        return
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DEPLOYSIM_REDACTION_KEY", "bench-serve-redaction-key-0123456789")
    targets = list(TARGETS) + (["deploysim serve --run-out"] if args.capture else [])
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as work:
        corpus = record(work)
        loads = workloads(corpus)
        flows = os.path.join(work, "flows.mitm")
        n_flows = write_flows(corpus, flows)
        rounds: list[dict[str, dict[str, Any]]] = []
        stops: list[dict[str, float]] = []
        for r in range(args.rounds):
            order = targets if r % 2 == 0 else list(reversed(targets))
            cells: dict[str, dict[str, Any]] = {}
            for target in order:
                port = _free_port()
                run_out = os.path.join(work, f"run-{r}") if target.endswith("--run-out") \
                    else None
                proc = (start_mitm(flows, port) if target.startswith("mitmdump")
                        else start_serve(corpus, port, run_out))
                try:
                    _wait_port(port, proc)
                    for name, w in loads.items():
                        cells[f"{target}|{name}"] = measure(target, proc, port, w, args)
                finally:
                    t0 = time.perf_counter()
                    proc.terminate()
                    proc.wait(600)  # a capturing serve writes the run's trajectories first
                if run_out is not None:
                    stops.append({"stop_s": time.perf_counter() - t0,
                                  "exchanges": _exchanges(run_out)})
            rounds.append(cells)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    result = summarize(rounds, targets, loads, args, n_flows)
    if stops:
        result["capture_stop"] = stops
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


def summarize(rounds: list[dict[str, dict[str, Any]]], targets: list[str],
              loads: dict[str, Any], args: argparse.Namespace, n_flows: int) -> dict[str, Any]:
    med = statistics.median
    cells: dict[str, Any] = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        cells[key] = {k: med(v[k] for v in values) for k in values[0] if k != "errors"}
        cells[key]["errors"] = sum(v["errors"] for v in values)
    ratios = {}
    for name in loads:
        per_round = [r[f"deploysim serve|{name}"]["rps"] /
                     r[f"mitmdump --server-replay|{name}"]["rps"] for r in rounds]
        cpu = [r[f"mitmdump --server-replay|{name}"]["cpu_us_per_request"] /
               r[f"deploysim serve|{name}"]["cpu_us_per_request"] for r in rounds]
        ratios[name] = {"throughput_ratio_median": med(per_round), "per_round": per_round,
                        "cpu_per_request_ratio_median": med(cpu), "cpu_per_round": cpu}
    return {"machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "command": " ".join(["python", "bench/serve.py", *sys.argv[1:]]),
            "rounds": len(rounds), "seconds_per_cell": args.seconds,
            "concurrency": args.concurrency, "flows": n_flows, "targets": targets,
            "cells": cells, "serve_vs_mitmdump": ratios}


def print_table(result: dict[str, Any]) -> None:
    cols = ("workload", "target", "c=1 p50 ms", "c=1 p99 ms", f"c={result['concurrency']} req/s",
            "loaded p50 ms", "loaded p99 ms", "CPU µs/req", "core share", "errors")
    rows = []
    for key, c in result["cells"].items():
        target, name = key.split("|")
        rows.append((name, target, f"{c['c1_p50_us'] / 1000:.3f}", f"{c['c1_p99_us'] / 1000:.3f}",
                     f"{c['rps']:.0f}", f"{c['load_p50_us'] / 1000:.2f}",
                     f"{c['load_p99_us'] / 1000:.2f}", f"{c['cpu_us_per_request']:.0f}",
                     f"{c['target_cpu_share']:.2f}/{c['loadgen_cpu_share']:.2f}",
                     str(c["errors"])))
    rows.sort()
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows, strict=False)]
    for row in (cols, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))
    for stop in result.get("capture_stop", []):
        print(f"deploysim serve --run-out: {stop['exchanges']} exchanges captured, run written "
              f"{stop['stop_s']:.1f}s after SIGTERM")
    for name, r in result["serve_vs_mitmdump"].items():
        print(f"{name}: deploysim serve / mitmdump throughput = "
              f"{r['throughput_ratio_median']:.1f}x; mitmdump / deploysim CPU per request = "
              f"{r['cpu_per_request_ratio_median']:.1f}x (medians of {result['rounds']} rounds)")


if __name__ == "__main__":
    main()

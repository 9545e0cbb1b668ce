"""Proxy overhead: what recording costs the traffic, side by side in one run.

Targets, each its own process, all in front of the same loopback fake LLM upstream (another
process) answering `POST /v1/chat/completions` with a 2 KB JSON body, or with an SSE stream of
200 chunks when the request says `"stream": true`:

- `direct`: no proxy;
- `gateway`: `deploysim record --upstream ...` (recording, redaction on, writer process);
- `mitm+addon`: `deploysim record --mitm --mitm-mode reverse:...` (mitmproxy + deploysim addon);
- `mitm bare`: `mitmdump --mode reverse:... -q` (no addon, nothing recorded).

The load generator is a separate process (it must not share a proxy's event loop). Each round
measures every target in turn (the order rotates between rounds): unloaded latency (sequential
JSON requests), SSE time to first chunk (sequential streams of 200 chunks, 2 ms apart like a
fast model), and throughput at concurrency 32 (JSON) — last, and the gateway's writer backlog
is drained before the next target. CPU per request of each proxy process is measured too: on a
shared machine it is the figure least disturbed by neighbours. The report gives medians over
rounds; "added" figures and ratios are computed within each round, then their median taken.

Soak (`--soak SECONDS`): 200 concurrent SSE streams through the gateway for that long, each
200 tokens `--soak-gap` seconds apart (default 0.3 s: a 60 s stream, 3.3 streams finishing per
second — what the cassette writer keeps up with on a busy 2-core machine, its redaction costing
tens of ms per stream); the proxy's and its writer's RSS are sampled every few seconds;
afterwards every completed stream must be in the cassettes.

    .venv/bin/python bench/proxy_overhead.py                       # 3 rounds, ~3 minutes
    .venv/bin/python bench/proxy_overhead.py --rounds 1 --duration 2 --requests 50   # small
    .venv/bin/python bench/proxy_overhead.py --soak 180 --rounds 0   # soak only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BIN = os.path.dirname(sys.executable)
DEPLOYSIM = os.path.join(BIN, "deploysim")
MITMDUMP = os.path.join(BIN, "mitmdump")
RESULTS = os.path.join(ROOT, "bench", "results", "proxy_overhead.json")
TARGETS = ("direct", "gateway", "mitm+addon", "mitm bare")
PATH = "/v1/chat/completions"

# -- the fake LLM upstream (its own process) -------------------------------------------------


def _json_body() -> bytes:
    text = ("The quick brown fox jumps over the lazy dog. " * 40)[:1700]
    body = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
            "model": "bench", "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 400, "total_tokens": 412}}
    data = json.dumps(body).encode()
    assert 1900 <= len(data) <= 2100, len(data)
    return data


def _sse_events(n: int = 200) -> list[bytes]:
    events = []
    for i in range(n):
        chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"content": f"tok{i} "}}]}
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


async def serve_upstream() -> None:
    from aiohttp import web

    body, events = _json_body(), _sse_events()

    async def handle(request: web.Request) -> web.StreamResponse:
        req = await request.read()
        if b'"stream": true' not in req:
            return web.Response(body=body, content_type="application/json")
        gap = float(request.query.get("gap", "0"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in events:
            await resp.write(event)
            if gap:
                await asyncio.sleep(gap)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post(PATH, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    await asyncio.Event().wait()


# -- the load generator (its own process) ----------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    url = spec["url"] + PATH + (f"?gap={spec['gap']}" if spec.get("gap") else "")
    stream = spec["kind"] in ("sse", "soak")
    payload = json.dumps({"model": "bench", "stream": stream,
                          "messages": [{"role": "user", "content": "hello " * 50}]}).encode()
    payload = payload.replace(b'"stream":true', b'"stream": true')
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-0000"}
    conc = spec.get("concurrency", 1)
    latencies: list[float] = []
    ttfc: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=conc, force_close=False)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=payload, headers=headers) as r:
                    first = None
                    async for _ in r.content.iter_any():
                        if first is None:
                            first = time.perf_counter() - t0
                    if r.status != 200:
                        errors += 1
                        return
            except aiohttp.ClientError:
                errors += 1
                return
            latencies.append(time.perf_counter() - t0)
            if first is not None:
                ttfc.append(first)

        for _ in range(spec.get("warmup", 20)):
            await one()
        latencies.clear()
        ttfc.clear()
        errors = 0
        t_start = time.perf_counter()
        if "requests" in spec:
            for _ in range(spec["requests"]):
                await one()
        else:
            deadline = t_start + spec["duration"]
            # soak: stagger the streams over one stream's length so they end evenly spread
            spread = 200 * spec.get("gap", 0) if spec["kind"] == "soak" else 0.0

            async def worker(k: int) -> None:
                await asyncio.sleep(spread * k / conc)
                while time.perf_counter() < deadline:
                    await one()

            await asyncio.gather(*(worker(k) for k in range(conc)))
        elapsed = time.perf_counter() - t_start
    ms = 1000.0
    return {"n": len(latencies), "errors": errors, "elapsed_s": round(elapsed, 3),
            "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(_pct(latencies, 0.5) * ms, 3),
            "p99_ms": round(_pct(latencies, 0.99) * ms, 3),
            "ttfc_p50_ms": round(_pct(ttfc, 0.5) * ms, 3) if ttfc else None,
            "ttfc_p99_ms": round(_pct(ttfc, 0.99) * ms, 3) if ttfc else None}


def run_loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--role", "loadgen", "--spec",
                          json.dumps(spec)], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# -- targets ---------------------------------------------------------------------------------


def _run_harness[T](main: Coroutine[Any, Any, T]) -> T:
    """Run a harness process (upstream or load generator) on the loop `BENCH_LOOP` names.

    The harness shares the machine's cores with the proxy under test: the less CPU it takes per
    request, the more of the machine the proxy can show. uvloop (the default) roughly halves
    the harness's share; `BENCH_LOOP=asyncio` gives the figures of the first measurements."""
    if os.environ.get("BENCH_LOOP", "uvloop") == "asyncio":
        return asyncio.run(main)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Target:
    """One proxy process (or none for direct)."""

    def __init__(self, name: str, upstream: str, work: str, extra: list[str] | None = None) -> None:
        self.name = name
        self.extra = list(extra or [])
        self.upstream = upstream
        self.work = work
        self.proc: subprocess.Popen[str] | None = None
        self.url = upstream
        self.out = os.path.join(work, name.replace(" ", "-").replace("+", "-"))

    def start(self) -> None:
        if self.name == "direct":
            return
        port = _free_port()
        if self.name == "mitm bare":
            cmd = [MITMDUMP, "--mode", f"reverse:{self.upstream}", "--listen-host",
                   "127.0.0.1", "--listen-port", str(port), "-q"]
        elif self.name == "gateway":
            cmd = [DEPLOYSIM, "record", "--upstream", self.upstream, "--listen",
                   f"127.0.0.1:{port}", "--out", self.out, *self.extra]
        else:
            cmd = [DEPLOYSIM, "record", "--mitm", "--mitm-mode", f"reverse:{self.upstream}",
                   "--listen", f"127.0.0.1:{port}", "--out", self.out, *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, "TERM": "dumb"})
        _wait_port(port)
        self.url = f"http://127.0.0.1:{port}"

    def pids(self) -> list[int]:
        """The proxy and its children (the writer process)."""
        if self.proc is None:
            return []
        found = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        found.append(int(entry))
        return found

    def stop(self) -> dict[str, Any]:
        """Stop cleanly (SIGINT) and return what was recorded."""
        if self.proc is None:
            return {}
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        info: dict[str, Any] = {"stderr_tail": err.strip().splitlines()[-1:] if err else []}
        if os.path.isdir(self.out):
            info["exchanges"] = count_exchanges(self.out)
        return info


def count_exchanges(out: str) -> int:
    from recorder.reader import CassetteReader

    n = 0
    for name in sorted(os.listdir(out)):
        if name.endswith(".cassette"):
            n += sum(1 for _, obj in CassetteReader(os.path.join(out, name)).iter_objs()
                     if obj.get("kind") == "exchange")
    return n


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metrics_of(url: str) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(url + "/_deploysim/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = out.get(name, 0.0) + float(value)
            if "{" in name:  # also the total over labels, under the bare name
                base = name.split("{", 1)[0]
                out[base] = out.get(base, 0.0) + float(value)
    return out


def drain(url: str, limit: float = 300.0) -> dict[str, float]:
    """Wait until a recorder's queue is empty; its metrics then."""
    deadline = time.monotonic() + limit
    while True:
        metrics = metrics_of(url)
        if not metrics.get("deploysim_proxy_queue_depth") or time.monotonic() > deadline:
            return metrics
        time.sleep(0.5)


# -- the benchmark ---------------------------------------------------------------------------


def overhead(args: argparse.Namespace, upstream: str, work: str) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    extra = ["--writer-nice", str(args.writer_nice)]
    targets = [Target(n, upstream, work, extra) for n in TARGETS]
    for t in targets:
        t.start()
    gateway_metrics: dict[str, float] = {}
    try:
        for r in range(args.rounds):
            order = targets[r % len(targets):] + targets[: r % len(targets)]
            row: dict[str, Any] = {}
            for t in order:
                proxy_pid = t.proc.pid if t.proc else None
                # latency and SSE first, throughput last: the writer's backlog from the
                # throughput run is drained before the next target is measured
                latency = run_loadgen({"url": t.url, "kind": "json", "requests": args.requests})
                sse = run_loadgen({"url": t.url, "kind": "sse", "gap": args.sse_gap,
                                   "requests": max(10, args.requests // 15)})
                cpu0 = cpu_s(proxy_pid) if proxy_pid else 0.0
                throughput = run_loadgen({"url": t.url, "kind": "json",
                                          "concurrency": args.concurrency,
                                          "duration": args.duration})
                cpu1 = cpu_s(proxy_pid) if proxy_pid else 0.0
                # CPU the proxy process itself spent per request: robust to a noisy machine
                throughput["proxy_cpu_ms_per_req"] = round(
                    (cpu1 - cpu0) * 1000 / max(1, throughput["n"] + 20), 3)
                row[t.name] = {"latency": latency, "throughput": throughput, "sse": sse}
                if t.name == "gateway":
                    drain(t.url)
                print(f"round {r + 1} {t.name:<11} " + "  ".join(
                    f"{k}: p50 {v['p50_ms']} ms p99 {v['p99_ms']} ms {v['rps']} rps"
                    for k, v in row[t.name].items()), flush=True)
            rounds.append(row)
        gateway = next(t for t in targets if t.name == "gateway")
        # let the (niced) writer catch up, then charge its CPU to the exchanges it wrote
        gateway_metrics = drain(gateway.url)
        writer_cpu = sum(cpu_s(p) for p in gateway.pids()[1:])
        recorded_n = gateway_metrics.get("deploysim_proxy_recorded_total", 0)
        gateway_metrics["writer_cpu_ms_per_exchange"] = round(
            writer_cpu * 1000 / max(1.0, recorded_n), 3)
    finally:
        recorded = {t.name: t.stop() for t in targets}
    return {"rounds": rounds, "summary": summarize(rounds), "recorded": recorded,
            "gateway_metrics": gateway_metrics}


def _med(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    if not rounds:
        return {}
    out: dict[str, Any] = {}
    for name in TARGETS:
        def per(kind: str, key: str, name: str = name) -> list[float]:
            return [r[name][kind][key] for r in rounds]

        def added(kind: str, key: str, name: str = name) -> list[float]:
            return [r[name][kind][key] - r["direct"][kind][key] for r in rounds]

        out[name] = {
            "latency_p50_ms": _med(per("latency", "p50_ms")),
            "latency_p99_ms": _med(per("latency", "p99_ms")),
            "added_p50_ms": _med(added("latency", "p50_ms")),
            "added_p99_ms": _med(added("latency", "p99_ms")),
            "throughput_rps": _med(per("throughput", "rps")),
            "loaded_p50_ms": _med(per("throughput", "p50_ms")),
            "loaded_p99_ms": _med(per("throughput", "p99_ms")),
            "ttfc_p50_ms": _med(per("sse", "ttfc_p50_ms")),
            "added_ttfc_p50_ms": _med(added("sse", "ttfc_p50_ms")),
            "sse_total_p50_ms": _med(per("sse", "p50_ms")),
            "proxy_cpu_ms_per_req": _med(per("throughput", "proxy_cpu_ms_per_req")),
            "errors": sum(r[name][k]["errors"] for r in rounds for k in r[name]),
        }

    def ratio(a: str, b: str) -> float:
        return _med([r[a]["throughput"]["rps"] / r[b]["throughput"]["rps"] for r in rounds])

    out["ratios"] = {
        "gateway_vs_mitm_bare_throughput": ratio("gateway", "mitm bare"),
        "mitm_addon_vs_bare_throughput": ratio("mitm+addon", "mitm bare"),
        "gateway_vs_direct_throughput": ratio("gateway", "direct"),
    }
    return out


def soak(args: argparse.Namespace, upstream: str, work: str) -> dict[str, Any]:
    target = Target("gateway", upstream, work, ["--writer-nice", str(args.writer_nice)])
    target.out = os.path.join(work, "soak")
    target.start()
    spec = {"url": target.url, "kind": "soak", "concurrency": args.soak_streams,
            "duration": args.soak, "gap": args.soak_gap, "warmup": 0}
    gen = subprocess.Popen([sys.executable, __file__, "--role", "loadgen", "--spec",
                            json.dumps(spec)], stdout=subprocess.PIPE, text=True)
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    while gen.poll() is None:
        time.sleep(min(5.0, max(1.0, args.soak / 30)))
        pids = target.pids()
        m = metrics_of(target.url)
        samples.append({"t_s": round(time.monotonic() - t0, 1),
                        "rss_kb": {str(p): rss_kb(p) for p in pids},
                        "total_rss_kb": sum(rss_kb(p) for p in pids),
                        "in_flight": m.get("deploysim_proxy_in_flight", 0),
                        "queue_depth": m.get("deploysim_proxy_queue_depth", 0),
                        "recorded": m.get("deploysim_proxy_recorded_total", 0),
                        "dropped": m.get("deploysim_proxy_dropped_total", 0)})
        print(f"soak {samples[-1]['t_s']:>6}s rss {samples[-1]['total_rss_kb'] / 1024:.1f} MB "
              f"in flight {samples[-1]['in_flight']:.0f} queue {samples[-1]['queue_depth']:.0f} "
              f"recorded {samples[-1]['recorded']:.0f}", flush=True)
    out, _ = gen.communicate()
    load = json.loads(out)
    final = metrics_of(target.url)
    info = target.stop()
    # steady state: after the first streams have completed (staggered over one stream length)
    warm = min(args.soak * 0.5, 200 * args.soak_gap * 1.1)
    steady_samples = [s for s in samples if warm <= s["t_s"] <= args.soak]
    steady = [s["total_rss_kb"] for s in steady_samples]
    slope = _slope([(s["t_s"], s["total_rss_kb"] / 1024) for s in steady_samples])
    return {
        "duration_s": args.soak, "streams": args.soak_streams, "gap_s": args.soak_gap,
        "writer_nice": args.writer_nice,
        "load": load,
        "completed_streams": load["n"], "recorded_exchanges": info.get("exchanges"),
        "requests_seen": final.get("deploysim_proxy_requests_total"),
        "dropped": final.get("deploysim_proxy_dropped_total"),
        "record_errors": final.get("deploysim_proxy_record_errors_total", 0.0),
        "rss_first_steady_mb": round(steady[0] / 1024, 1) if steady else None,
        "rss_last_mb": round(steady[-1] / 1024, 1) if steady else None,
        "rss_max_steady_mb": round(max(steady) / 1024, 1) if steady else None,
        "rss_slope_mb_per_min": round(slope * 60, 2) if slope is not None else None,
        "steady_from_s": round(warm, 1),
        "max_queue_depth": max((s["queue_depth"] for s in samples), default=0),
        "samples": samples,
    }


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope (units per second)."""
    if len(points) < 3:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else None


def print_table(result: dict[str, Any]) -> None:
    s = result.get("summary") or {}
    if s:
        print()
        print(f"{'target':<12}{'p50 ms':>9}{'p99 ms':>9}{'+p50':>8}{'+p99':>8}{'rps@32':>9}"
              f"{'ttfc ms':>9}{'+ttfc':>8}{'cpu/req':>9}")
        for name in TARGETS:
            v = s[name]
            print(f"{name:<12}{v['latency_p50_ms']:>9.2f}{v['latency_p99_ms']:>9.2f}"
                  f"{v['added_p50_ms']:>8.2f}{v['added_p99_ms']:>8.2f}"
                  f"{v['throughput_rps']:>9.0f}{v['ttfc_p50_ms']:>9.2f}"
                  f"{v['added_ttfc_p50_ms']:>8.2f}{v['proxy_cpu_ms_per_req']:>9.3f}")
        for k, v in s["ratios"].items():
            print(f"{k}: {v:.2f}x")
        gm = result.get("gateway_metrics") or {}
        if "writer_cpu_ms_per_exchange" in gm:
            print(f"gateway writer process: {gm['writer_cpu_ms_per_exchange']} CPU ms per "
                  f"recorded exchange (niced; recorded "
                  f"{gm.get('deploysim_proxy_recorded_total', 0):.0f}, dropped "
                  f"{gm.get('deploysim_proxy_dropped_total', 0):.0f})")
    soak_ = result.get("soak")
    if soak_:
        print(f"soak {soak_['duration_s']} s x {soak_['streams']} streams: "
              f"{soak_['completed_streams']} completed, {soak_['recorded_exchanges']} recorded, "
              f"dropped {soak_['dropped']}, RSS {soak_['rss_first_steady_mb']} -> "
              f"{soak_['rss_last_mb']} MB (max {soak_['rss_max_steady_mb']}, slope "
              f"{soak_['rss_slope_mb_per_min']} MB/min after {soak_['steady_from_s']} s), "
              f"max queue {soak_['max_queue_depth']:.0f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--role", choices=["bench", "upstream", "loadgen"], default="bench")
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=300,
                   help="sequential requests per latency measurement")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--sse-gap", type=float, default=0.002,
                   help="seconds between the 200 chunks of the time-to-first-chunk streams")
    p.add_argument("--soak", type=float, default=0.0, help="soak seconds (0: no soak)")
    p.add_argument("--soak-streams", type=int, default=200)
    p.add_argument("--writer-nice", type=int, default=0,
                   help="the recorders' --writer-nice (CPU priority of the cassette writer)")
    p.add_argument("--soak-gap", type=float, default=0.3,
                   help="seconds between tokens of a soak stream (200 tokens per stream)")
    args = p.parse_args()
    if args.role == "upstream":
        _run_harness(serve_upstream())
        return
    if args.role == "loadgen":
        print(json.dumps(_run_harness(loadgen(json.loads(args.spec)))))
        return

    up = subprocess.Popen([sys.executable, __file__, "--role", "upstream"],
                          stdout=subprocess.PIPE, text=True)
    assert up.stdout is not None
    upstream = f"http://127.0.0.1:{int(up.stdout.readline())}"
    result: dict[str, Any] = {
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "command": " ".join([os.path.relpath(sys.executable, ROOT), "bench/proxy_overhead.py",
                             *sys.argv[1:]]),
        "config": {"rounds": args.rounds, "requests": args.requests,
                   "duration_s": args.duration, "concurrency": args.concurrency,
                   "json_bytes": len(_json_body()), "sse_chunks": 200, "sse_gap_s": args.sse_gap},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="deploysim-bench-") as work:
            if args.rounds:
                result.update(overhead(args, upstream, work))
            if args.soak:
                result["soak"] = soak(args, upstream, work)
    finally:
        up.terminate()
        up.wait()
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(result, f, indent=2)
    print_table(result)
    print(f"\nwrote {os.path.relpath(RESULTS, ROOT)}")


if __name__ == "__main__":
    main()

"""Recording soak: `deploysim record` with default settings under a realistic agent load for
minutes, then a clean stop; is every exchange recorded, and does memory stay flat?

Three processes besides the gateway, so no client or upstream shares the gateway's loop:

- upstream: a fake streaming model (`replayer.testing.fake_model`, the exact OpenAI wire
  format, paced like a model: first token after `--ttft` s, then a chunk every `--gap` s) and a
  real MCP server (`mcp.server.mcpserver.MCPServer` over streamable HTTP); every request that
  reaches either is counted there (the ground truth for "sent");
- load: `--clients` concurrent official `openai` SDK clients, each looping chat completion
  streams through the gateway, plus `--mcp-loops` loops of session-based MCP sessions
  (`ClientSession.initialize`, `tools/call` x `--mcp-calls`, DELETE on close), plus a probe
  that alternates the same stream direct and through the gateway to measure the added time to
  first chunk under load;
- the gateway: `deploysim record --upstream model=... --upstream tools=... --out TMP`, the CLI
  with its defaults (writer process), stopped with SIGINT at the end.

Reported: exchanges sent (counted at the upstreams) vs recorded (the run's ledger and the
corpus read back; they must be equal), dropped and record errors by kind, gateway and writer RSS
at start and end (VmRSS), the writer's exchanges/s (kept up with the offered load, and per
CPU-second it used: its capacity), the stop time, and p50/p99 added time to first chunk.
Writes bench/results/soak.json. Not a test: nothing here asserts.

    .venv/bin/python bench/soak.py                    # 180 s, 100 streamed clients
    .venv/bin/python bench/soak.py --seconds 60       # a shorter run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")
RESULTS = os.path.join(ROOT, "bench", "results", "soak.json")
PROBES = 4
"""Concurrent probes measuring the added time to first chunk (pairs direct/gateway)."""
REPLY = ("Sunny with a light breeze in the morning, clouds building after noon and a chance of "
         "showers by evening; temperatures between twelve and nineteen degrees, winds from the "
         "west at fifteen kilometres an hour, humidity around sixty percent. ") * 2


# -- upstream process: paced fake model + MCP server, both counting --------------------------


async def serve_upstream(spec: dict[str, Any]) -> None:
    from aiohttp import web

    from proxy.replay.testing import McpHttpServer, sunny_server
    from replayer.testing.fake_model import FakeModelServer, Request, Response, ScriptedReply

    logging.getLogger("mcp").setLevel(logging.WARNING)  # no INFO line per MCP session
    counts = {"model": 0, "mcp": 0}
    gap, ttft = spec["gap"], spec["ttft"]

    class Paced(FakeModelServer):
        """The fake model, streaming each chunk `gap` s after the last, like a model."""

        def app(self) -> web.Application:
            app = super().app()

            async def count(_request: web.Request) -> web.Response:
                return web.json_response(counts)

            app.router.add_get("/_bench/count", count)
            return app

        async def _aiohttp_handle(self, request: web.Request) -> web.StreamResponse:
            if "x-bench-direct" not in request.headers:  # the probe's direct streams: not sent
                counts["model"] += 1
            answer = await self._route(Request(
                request.method, request.path, request.query_string,
                {k.lower(): v for k, v in request.headers.items()}, await request.read(),
                lambda: None))
            if isinstance(answer, Response) or answer is None:
                assert answer is not None
                headers = dict(answer.headers)
                if answer.content_type:
                    headers["Content-Type"] = answer.content_type
                return web.Response(status=answer.status, body=answer.body, headers=headers)
            await asyncio.sleep(ttft)
            response = web.StreamResponse(status=answer.status, headers=answer.headers)
            await response.prepare(request)
            for i, chunk in enumerate(answer.chunks):
                if i:
                    await asyncio.sleep(gap)
                await response.write(chunk)
            await response.write_eof()
            return response

    model = Paced(lambda _req: ScriptedReply(text=REPLY), chunk=spec["chunk"],
                  log_requests=False)
    await model.start()

    def counted(app: Any) -> Any:
        async def tap(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                counts["mcp"] += 1
            await app(scope, receive, send)

        return tap

    async with McpHttpServer(sunny_server(), own_host_only=True, wrap=counted) as mcp:
        print(json.dumps({"model": model.url, "mcp": mcp.url}), flush=True)
        await asyncio.Event().wait()  # until the bench kills this process


# -- load process: official clients through the gateway --------------------------------------


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)


async def load(spec: dict[str, Any]) -> dict[str, Any]:
    import httpx2
    import openai
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    deadline = time.monotonic() + spec["seconds"]
    stats = {"chat_ok": 0, "chat_errors": 0, "mcp_sessions_ok": 0, "mcp_errors": 0}
    errors: dict[str, int] = {}
    ttfc: dict[str, list[float]] = {"direct": [], "gateway": []}

    def failed(exc: BaseException) -> None:
        name = type(exc).__name__
        errors[name] = errors.get(name, 0) + 1

    async def stream(client: openai.AsyncOpenAI, session: str) -> float:
        t0 = time.perf_counter()
        first = 0.0
        out = await client.chat.completions.create(
            model="sim-deployed", stream=True,
            messages=[{"role": "user", "content": f"weather in Paris? ({session})"}],
            extra_headers={"X-Deploysim-Session": session})
        async for _ in out:
            if not first:
                first = time.perf_counter() - t0
        return first

    def sdk(base: str, headers: dict[str, str] | None = None) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-soak-0123456789abcdef",
                                  max_retries=0, default_headers=headers,
                                  http_client=httpx2.AsyncClient(trust_env=False, timeout=120))

    async def chat_client(k: int) -> None:
        await asyncio.sleep(k * spec["stagger"])  # spread the starts over one stream's length
        async with sdk(spec["gateway"] + "/model") as client:
            i = 0
            while time.monotonic() < deadline:
                try:
                    await stream(client, f"chat-{k}-{i}")
                    stats["chat_ok"] += 1
                except Exception as exc:  # counted, the loop goes on
                    stats["chat_errors"] += 1
                    failed(exc)
                i += 1

    async def mcp_loop(k: int) -> None:
        url = spec["gateway"] + "/tools"
        i = 0
        while time.monotonic() < deadline:
            try:
                async with httpx2.AsyncClient(trust_env=False, timeout=60) as http, \
                        streamable_http_client(url, http_client=http) as (read, write), \
                        ClientSession(read, write) as session:
                    await session.initialize()
                    for c in range(spec["mcp_calls"]):
                        await session.call_tool("get_weather", {"city": f"city-{k}-{i}-{c}"})
                stats["mcp_sessions_ok"] += 1
            except Exception as exc:
                stats["mcp_errors"] += 1
                failed(exc)
            i += 1

    async def probe(k: int) -> None:
        # the same stream direct, then through the gateway, back to back: a pair's difference
        # is what the gateway added under the load of that moment
        async with sdk(spec["model"], {"X-Bench-Direct": "1"}) as direct, \
                sdk(spec["gateway"] + "/model") as gateway:
            i = 0
            while time.monotonic() < deadline:
                try:
                    d = await stream(direct, f"probe-{k}-{i}")
                    g = await stream(gateway, f"probe-{k}-{i}")
                    ttfc["direct"].append(d)
                    ttfc["gateway"].append(g)
                except Exception as exc:
                    failed(exc)
                i += 1

    t0 = time.monotonic()
    await asyncio.gather(*(chat_client(k) for k in range(spec["clients"])),
                         *(mcp_loop(k) for k in range(spec["mcp_loops"])),
                         *(probe(k) for k in range(PROBES)))
    added = [g - d for d, g in zip(ttfc["direct"], ttfc["gateway"], strict=False)]
    return {**stats, "errors_by_type": errors, "elapsed_s": round(time.monotonic() - t0, 1),
            "probe_streams": len(added),
            "ttfc_direct_p50_ms": _pct(ttfc["direct"], 0.5),
            "ttfc_gateway_p50_ms": _pct(ttfc["gateway"], 0.5),
            "added_ttfc_p50_ms": _pct(added, 0.5), "added_ttfc_p99_ms": _pct(added, 0.99)}


# -- the orchestrator ------------------------------------------------------------------------


def _children(parent: int, needle: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if ppid == parent and needle in f.read():
                        found.append(int(entry))
    return found


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _cpu_s(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _metrics(url: str) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(url + "/_deploysim/metrics", timeout=10) as r:
        text = r.read().decode()
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")}


def _get_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


class Sampler:
    """RSS and CPU of the gateway and its writer(s), every `every` seconds on a thread."""

    def __init__(self, gateway: int, every: float = 5.0) -> None:
        self.gateway = gateway
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self.writer_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, Any]:
        writers = _children(self.gateway, b"proxy.writer_process")
        for pid in writers:  # a restarted writer is a new pid: keep each one's last reading
            self.writer_cpu[pid] = _cpu_s(pid)
        row = {"t_s": round(time.monotonic() - self._t0, 1),
               "gateway_rss_mb": _rss_mb(self.gateway),
               "writer_rss_mb": round(sum(_rss_mb(p) for p in writers), 1),
               "writers": len(writers)}
        self.samples.append(row)
        return row

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        return self.sample()


def read_corpus(out: str) -> dict[str, Any]:
    from recorder.corpus import Corpus

    kinds: dict[str, int] = {}
    failures: dict[str, int] = {}
    ledgers = []
    corpus = Corpus(out)
    for _path, obj in corpus.objs():
        kinds[obj.get("kind", "?")] = kinds.get(obj.get("kind", "?"), 0) + 1
        if obj.get("kind") == "ledger":
            ledgers.append({k: v for k, v in obj.items() if k != "kind"})
        elif obj.get("error"):  # exchanges recorded with an error, by kind (`timeout: ...`)
            kind = str(obj["error"]).split(":", 1)[0]
            failures[kind] = failures.get(kind, 0) + 1
    return {"records": kinds, "exchanges": kinds.get("exchange", 0), "ledgers": ledgers,
            "exchange_errors": failures,
            "problems": [str(p) for p in corpus.problems], "cassettes": len(corpus.paths)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = {"gap": args.gap, "ttft": args.ttft, "chunk": args.chunk}
    upstream = subprocess.Popen([sys.executable, __file__, "--role", "upstream", "--spec",
                                 json.dumps(spec)], stdout=subprocess.PIPE, text=True)
    work = tempfile.mkdtemp(prefix="deploysim-soak-")
    out = os.path.join(work, "out")
    gateway: subprocess.Popen[str] | None = None
    try:
        assert upstream.stdout is not None
        urls = json.loads(upstream.stdout.readline())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        gateway = subprocess.Popen(
            [DEPLOYSIM, "record", "--upstream", f"model={urls['model']}",
             "--upstream", f"tools={urls['mcp']}", "--listen", f"127.0.0.1:{port}",
             "--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TERM": "dumb"})
        assert gateway.stderr is not None
        banner = gateway.stderr.readline()
        if "listening on" not in banner:
            raise RuntimeError(f"the gateway did not start: {banner}{gateway.stderr.read()}")
        url = f"http://127.0.0.1:{port}"
        lines: list[str] = [banner]
        drain = threading.Thread(target=lambda: lines.extend(gateway.stderr or ()), daemon=True)
        drain.start()  # a chatty gateway must never block on a full pipe
        time.sleep(1.0)  # the writer process is up and settled
        sampler = Sampler(gateway.pid)
        sampler.start()
        stream_s = args.ttft + args.gap * (len(REPLY) / args.chunk)
        load_spec = {"gateway": url, "model": urls["model"], "seconds": args.seconds,
                     "clients": args.clients, "mcp_loops": args.mcp_loops,
                     "mcp_calls": args.mcp_calls, "stagger": stream_s / args.clients}
        print(f"soak: {args.clients} streamed clients + {args.mcp_loops} MCP loops for "
              f"{args.seconds:g} s through {url} (streams ~{stream_s:.1f} s)", flush=True)
        loaded = subprocess.run([sys.executable, __file__, "--role", "load", "--spec",
                                 json.dumps(load_spec)], capture_output=True, text=True,
                                check=True)
        clients = json.loads(loaded.stdout)
        end = sampler.stop()
        before_stop = _metrics(url)
        t0 = time.monotonic()
        gateway.send_signal(signal.SIGINT)
        gateway.wait(600)
        stop_s = round(time.monotonic() - t0, 2)
        drain.join(10)
        stderr = "".join(lines)
        sent = _get_json(urls["model"] + "/_bench/count")
        corpus = read_corpus(out)
        check = subprocess.run([DEPLOYSIM, "verify", out], capture_output=True, text=True,
                               check=False)
    finally:
        for proc in (gateway, upstream):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        if args.keep:
            print(f"the recording is in {out}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    ledger = corpus["ledgers"][-1] if corpus["ledgers"] else {}
    writer_cpu = sum(sampler.writer_cpu.values())
    recorded = corpus["exchanges"]
    start = sampler.samples[0]
    result = {
        "sent": sent["model"] + sent["mcp"], "sent_by_upstream": sent,
        "recorded_corpus": recorded,
        "recorded_ledger": ledger.get("recorded"), "forwarded_ledger": ledger.get("forwarded"),
        "equal": sent["model"] + sent["mcp"] == recorded == ledger.get("recorded"),
        "dropped": ledger.get("dropped"), "record_errors": ledger.get("record_errors"),
        "ledger_clean": ledger.get("clean"),
        "metrics_before_stop": {k: v for k, v in before_stop.items()
                                if any(w in k for w in ("forwarded", "recorded", "dropped",
                                                        "record_", "restarts", "queue",
                                                        "in_flight"))},
        "rss_mb": {"gateway_start": start["gateway_rss_mb"], "gateway_end": end["gateway_rss_mb"],
                   "writer_start": start["writer_rss_mb"], "writer_end": end["writer_rss_mb"]},
        "rss_samples": sampler.samples,
        "writer_exchanges_per_s": round(recorded / clients["elapsed_s"], 1),
        "writer_cpu_s": round(writer_cpu, 1),
        "writer_exchanges_per_cpu_s": round(recorded / writer_cpu, 1) if writer_cpu else None,
        "stop_s": stop_s, "stop_exit_code": gateway.returncode if gateway else None,
        "stop_stderr_tail": stderr.strip().splitlines()[-3:],
        "tracebacks": stderr.count("Traceback"),
        "verify_exit_code": check.returncode,
        "verify_tail": (check.stdout + check.stderr).strip().splitlines()[-3:],
        "clients": clients, "corpus": {k: v for k, v in corpus.items() if k != "ledgers"},
    }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=180.0, help="How long the load runs.")
    p.add_argument("--clients", type=int, default=100, help="Concurrent streamed chat clients.")
    p.add_argument("--mcp-loops", type=int, default=10, help="Concurrent MCP session loops.")
    p.add_argument("--mcp-calls", type=int, default=3, help="tools/call per MCP session.")
    p.add_argument("--gap", type=float, default=0.03, help="Seconds between stream chunks.")
    p.add_argument("--ttft", type=float, default=0.3, help="Seconds to the first chunk.")
    p.add_argument("--chunk", type=int, default=12, help="Characters per stream delta.")
    p.add_argument("--out", default=RESULTS, help="Where to write the JSON results.")
    p.add_argument("--keep", action="store_true", help="Keep the recording (else deleted).")
    p.add_argument("--role", choices=["upstream", "load"], help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "upstream":
        asyncio.run(serve_upstream(json.loads(args.spec)))
        return
    if args.role == "load":
        print(json.dumps(asyncio.run(load(json.loads(args.spec)))))
        return
    result = run(args)
    report = {
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_at_end": os.getloadavg()[0]},
        "command": "python bench/soak.py " + " ".join(sys.argv[1:]),
        "config": {k: v for k, v in vars(args).items()
                   if k not in ("role", "spec", "out", "keep")},
        **result,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(json.dumps({k: report[k] for k in (
        "sent", "recorded_corpus", "recorded_ledger", "equal", "dropped", "record_errors",
        "rss_mb", "writer_exchanges_per_s", "writer_exchanges_per_cpu_s", "stop_s",
        "tracebacks", "verify_exit_code")}, indent=2))
    print(f"clients: {json.dumps(report['clients'])}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

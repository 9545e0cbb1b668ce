"""Recording a window: the world's users play their sessions through the production agent,
whose model and tool traffic goes through `deploysim record` (a subprocess, as a user runs it)
in front of the window's release and live tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import aiohttp

from bench.fidelity.agent import Endpoints, play_all
from bench.fidelity.params import Window, WorldConfig
from bench.fidelity.server import ROOT, Servers
from bench.fidelity.users import session_spec
from runtime.event_loop import run as aio_run


def deploysim() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "deploysim")]


def env() -> dict[str, str]:
    """The environment of every `deploysim` subprocess: the world importable, a fixed key."""
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "DEPLOYSIM_REDACTION_KEY": os.environ.get("DEPLOYSIM_REDACTION_KEY",
                                                      "fidelity-world-key")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            if proc.poll() is not None:
                raise RuntimeError(f"`deploysim record` exited early; see {log}.")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"`deploysim record` did not become healthy at {url}; see {log}.")


def record_window(cfg: WorldConfig, w: Window, out: Path, seed: int) -> dict[str, float]:
    """Record window `w` (its release, mix, tools) into `out`; `seed` seeds users, model and
    tools (the noise floor records one window twice with two seeds)."""
    logs = out.parent / "logs"
    spec = {"seed": seed, "stochastic": cfg.switches.stochastic,
            "window": dataclasses.asdict(w), "stateful": cfg.switches.state_drift}
    t0 = time.perf_counter()
    with Servers(spec, logs / f"servers-{out.name}.log") as urls:
        port = _free_port()
        gw = f"http://127.0.0.1:{port}"
        cmd = [*deploysim(), "record", "--listen", f"127.0.0.1:{port}", "--out", str(out),
               "--upstream", f"llm={urls['model']}", "--upstream", f"tools={urls['tools']}"]
        log = logs / f"record-{out.name}.log"
        with open(log, "wb") as logf:
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env())
            try:
                specs = [session_spec(seed, w, i) for i in range(cfg.sessions)]
                ep = Endpoints(f"{gw}/llm/v1/chat/completions", f"{gw}/tools", w.release)

                async def main() -> int:
                    await _healthy(f"{gw}/_deploysim/health", proc, log)
                    return await play_all(ep, specs, seed, cfg.switches.user_reaction)

                turns = aio_run(main())
            finally:
                proc.send_signal(signal.SIGINT)  # flush, derive sessions, close cleanly
                try:
                    proc.wait(timeout=180)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise RuntimeError(f"`deploysim record` did not stop; see {log}.") from None
    if proc.returncode not in (0, -signal.SIGINT, 130):
        raise RuntimeError(f"`deploysim record` failed (exit {proc.returncode}); see {log}.")
    return {"sessions": cfg.sessions, "user_turns": turns,
            "seconds": round(time.perf_counter() - t0, 1)}

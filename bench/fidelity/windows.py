"""Recording a window: the world's users play their sessions through the production agent,
whose model and tool traffic goes through `deploysim record` (a subprocess, as a user runs it:
`deploysim.demo.record_process`, as the demo records) in front of the window's release and
live tools.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from bench.fidelity.agent import Endpoints, play_all
from bench.fidelity.params import Window, WorldConfig
from bench.fidelity.server import ROOT, servers
from bench.fidelity.users import session_spec
from deploysim.demo.record_process import free_port, record_command, recording
from runtime.event_loop import run as aio_run


def deploysim() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "deploysim")]


def env() -> dict[str, str]:
    """The environment of every `deploysim` subprocess: the world importable, a fixed key."""
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "DEPLOYSIM_REDACTION_KEY": os.environ.get("DEPLOYSIM_REDACTION_KEY",
                                                      "fidelity-world-key")}


def record_window(cfg: WorldConfig, w: Window, out: Path, seed: int) -> dict[str, float]:
    """Record window `w` (its release, mix, tools) into `out`; `seed` seeds users, model and
    tools (the noise floor records one window twice with two seeds)."""
    logs = out.parent / "logs"
    spec = {"seed": seed, "stochastic": cfg.switches.stochastic,
            "window": dataclasses.asdict(w), "stateful": cfg.switches.state_drift}
    t0 = time.perf_counter()
    with servers(spec, logs / f"servers-{out.name}.log") as world:
        port = free_port()
        cmd = record_command(port, out, {"llm": world.urls["model"],
                                         "tools": world.urls["tools"]})
        specs = [session_spec(seed, w, i) for i in range(cfg.sessions)]

        async def main() -> int:
            async with recording(cmd, port, logs / f"record-{out.name}.log", env=env(),
                                 stop_timeout=180) as gw:
                ep = Endpoints(f"{gw}/llm/v1/chat/completions", f"{gw}/tools", w.release)
                return await play_all(ep, specs, seed, cfg.switches.user_reaction)

        turns = aio_run(main())
    return {"sessions": cfg.sessions, "user_turns": turns,
            "seconds": round(time.perf_counter() - t0, 1)}

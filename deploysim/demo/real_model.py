"""`deploysim demo --real-model`: the demo's world with a real model, on this machine.

The same world as the scripted demo (the MCP workspace, the CRM, simulated users, the recording
gateway: `deploysim.demo.pipeline`'s own functions), but the deployed agent and the candidate
are one real model, Qwen2.5-Coder-0.5B-Instruct served by llama.cpp's C++ server on loopback
(`deploysim.realmodel`). Deployed and candidate differ in sampling: the deployed agent runs at
temperature 0.2, the candidate at 1.0. The candidate is also rolled out with the LLM user
simulator and the LLM tool simulator, both the same model on the same server.

It is real inference with a toy model, and every output says so: a 0.5B model's rates say
nothing about any production model. Sized for two cores: a few sessions, short answers, the
replays one after the other (the server has two slots; more in flight would only queue).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploysim.demo.errors import DemoError
from deploysim.demo.pipeline import (
    PROFILE,
    DemoResult,
    World,
    _record,
    _replay_cmd,
    gate_step,
    inspect_production,
    prepare,
    without_project_config,
)
from deploysim.demo.record_process import deploysim_command
from deploysim.realmodel import (
    MODEL_NAME,
    PINNED,
    LocalModelServer,
    RealModelUnavailable,
    locate_weights,
    runtime_missing,
)
from runtime.event_loop import run as aio_run

LABEL = "real inference, toy model"
SETTINGS = {"deployed": {"temperature": 0.2}, "candidate": {"temperature": 1.0}}
"""The two sampling settings compared (the model and its prompts are the same)."""
MAX_TOKENS = 192
"""Per answer, in the replays and (as the server's cap) in the recording."""
MAX_STEPS = 3
MAX_SLOTS = 6
SAMPLES_SHOWN = 6


@dataclass
class RealDemoResult(DemoResult):
    """What the real-model demo produced."""

    samples: list[str] = field(default_factory=list)
    rollout_summary: dict[str, Any] = field(default_factory=dict)
    server_url: str = ""
    server_restarts: int = 0
    """How often llama.cpp's server crashed and was started again."""

    @property
    def rollout(self) -> Path:
        return self.out / "runs" / "candidate-rollout"

    @property
    def samples_file(self) -> Path:
        return self.out / "real-model-samples.md"


def _params(setting: str) -> list[str]:
    params = {**SETTINGS[setting], "max_tokens": MAX_TOKENS}
    return [arg for k, v in params.items() for arg in ("--param", f"{k}={v}")]


def _without(cmd: list[str], *flags: str) -> list[str]:
    """`cmd` without the given single-valued options (each flag and its value)."""
    out: list[str] = []
    skip = False
    for arg in cmd:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            out.append(arg)
    return out


def _replays(res: RealDemoResult, server: LocalModelServer, seed: int,
             say: Callable[[str], None]) -> None:
    """The baseline's and the candidate's prefix replays side by side (the server batches
    their requests across its slots: on two cores that nearly halves their wall time), then
    the candidate's rollout."""
    runs = (("baseline", res.baseline, "deployed", ["--mode", "prefix"]),
            ("candidate", res.candidate, "candidate", ["--mode", "prefix"]),
            ("candidate-rollout", res.rollout, "candidate",
             ["--mode", "rollout", "--profile", "none", "--user-simulator", MODEL_NAME]))
    started: list[tuple[str, str, Path, subprocess.Popen[bytes], float]] = []
    for i, (name, out, setting, extra) in enumerate(runs):
        base = _without(_replay_cmd(res, out, MODEL_NAME, PROFILE, server.base_url, seed),
                        "--mode", "--concurrency", *(("--profile",) if "--profile" in extra
                                                      else ()))
        cmd = [*base, *_params(setting), *extra, "--tool-simulator", MODEL_NAME,
               "--fallbacks", "simulate,nearest,synthesize",
               "--concurrency", str(server.slots), "--max-steps", str(MAX_STEPS),
               # a cache of its own beside the run, not inside it (issue 22)
               "--cache-dir", str(res.out / "cache" / name), "--progress", "off"]
        res.commands.append(shlex.join(["deploysim", *cmd[len(deploysim_command()):]]))
        log = res.out / "logs" / f"replay-{name}.log"
        with open(log, "wb") as logf:
            started.append((name, setting, log, subprocess.Popen(
                cmd, stdout=logf, stderr=subprocess.STDOUT), time.perf_counter()))
        if i == 0:
            continue  # the candidate's prefix replay starts beside the baseline's
        try:
            for run_name, run_setting, run_log, proc, t in started:
                code = proc.wait()
                res.timings[f"replay {run_name}"] = time.perf_counter() - t
                if code != 0:
                    raise DemoError(f"`deploysim replay` of the {run_name} failed (exit "
                                    f"{code}); see {run_log}.")
                say(f"replayed the {run_name} ({run_setting} sampling "
                    f"{SETTINGS[run_setting]}) [{LABEL}]")
        finally:  # a failed replay stops the one beside it
            for *_, proc, _t in started:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait()
        started.clear()


def _shown(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _samples(res: RealDemoResult) -> list[str]:
    """What the model really wrote: answers, tool calls, simulated users and tools."""
    from replayer.run_folder import trajectories

    lines: list[str] = []
    for label, run in (("candidate", res.candidate), ("rollout", res.rollout)):
        for traj in sorted(trajectories(str(run)), key=lambda t: t.id):
            for m in traj.messages:
                if m.origin != "generated":
                    continue
                if m.role == "assistant":
                    for c in m.tool_calls:
                        lines.append(f"[{label}] model calls {c.name}({_shown(str(c.arguments))})")
                    if m.text.strip():
                        lines.append(f"[{label}] model says: {_shown(m.text)}")
                elif m.role == "user":
                    lines.append(f"[{label}] simulated user: {_shown(m.text)}")
                elif m.role == "tool" and m.result is not None and \
                        m.result.provenance == "simulated":
                    lines.append(f"[{label}] simulated tool {m.name}: "
                                 f"{_shown(m.result.content or '')}")
    return lines


def _write_samples(res: RealDemoResult) -> None:
    head = [f"# deploysim demo --real-model: what the model wrote ({LABEL})", "",
            f"Model: {MODEL_NAME} ({PINNED.upstream}), {PINNED.quantisation}, sha256 "
            f"{PINNED.sha256}, served by llama.cpp (xllamacpp) at {res.server_url}.",
            f"Deployed sampling {SETTINGS['deployed']}, candidate {SETTINGS['candidate']}.", ""]
    res.samples_file.write_text("\n".join(head + [f"- {s}" for s in res.samples]) + "\n")


def run_real_demo(out: Path, sessions: int = 3, seed: int = 7,
                  say: Callable[[str], None] = print) -> RealDemoResult:
    """Run the real-model demo into `out`; raises RealModelUnavailable without the model."""
    with without_project_config():
        return _run(out, sessions, seed, say)


def _run(out: Path, sessions: int, seed: int, say: Callable[[str], None]) -> RealDemoResult:
    prepare(out, seed)
    # what is missing is said before anything is written
    reason = runtime_missing()
    if reason:
        raise RealModelUnavailable(reason)
    weights = locate_weights()
    res = RealDemoResult(out=out, seed=seed)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    # a slot per session: each conversation's prompt stays cached in its slot, so a call
    # processes only what was added since the last one (the tool list alone is ~1,000 tokens)
    with LocalModelServer(weights, slots=min(sessions, MAX_SLOTS), max_tokens=MAX_TOKENS,
                          log=out / "logs" / "llama-server.log") as server:
        res.server_url = server.url
        res.timings["model start"] = time.perf_counter() - t
        say(f"llama.cpp serves {MODEL_NAME} at {server.base_url} [{LABEL}]")
        with World(out / "logs" / "world.log") as world:
            # the world's MCP workspace and CRM, with the real model in place of the script
            world.urls["model"] = server.url
            t = time.perf_counter()
            # _record's own line names the scripted model it usually fronts
            aio_run(_record(res, world, sessions, seed,
                            lambda line: say(line.replace("the simulated model",
                                                          f"the real model ({LABEL})")),
                            model=MODEL_NAME))
            res.timings["record"] = time.perf_counter() - t
        say(f"{inspect_production(res)} of the real agent [{LABEL}]")
        _replays(res, server, seed, say)
        res.server_restarts = server.restarts
    gate_step(res)
    res.samples = _samples(res)
    _write_samples(res)
    return res


def print_real_summary(res: RealDemoResult, wall_s: float, show: Callable[[str], None]
                       ) -> None:
    """The closing note: the decision, what the model did, the wall time, where things are."""
    gate = res.gate
    show("")
    show(f"Gate decision: {str(gate.get('decision', '?')).upper()} — candidate (temperature "
         f"{SETTINGS['candidate']['temperature']}) vs deployed (temperature "
         f"{SETTINGS['deployed']['temperature']}), `{PROFILE}` profile [{LABEL}]")
    for reason in gate.get("reasons", [])[:3]:
        show(f"  {reason}")
    for bid, b in sorted(gate.get("behaviors", {}).items()):
        if b.get("baseline_rate") or b.get("candidate_rate"):
            show(f"  {bid}: baseline {b.get('baseline_rate')}, candidate "
                 f"{b.get('candidate_rate')} ({b.get('verdict')})")
    calls = sum(1 for s in res.samples if " model calls " in s)
    show(f"What the model did: {res.recorded.get('turns')} recorded turns with "
         f"{res.recorded.get('tool_calls')} tool calls; in the candidate's replays "
         f"{calls} tool calls and {len(res.samples) - calls} other generated messages.")
    for line in res.samples[:SAMPLES_SHOWN]:
        show(f"  {line}")
    if res.server_restarts:
        show(f"llama.cpp's server crashed {res.server_restarts} time(s) and was restarted "
             "(the calls in flight were retried); see logs/llama-server.log.")
    show(f"All of it: {res.samples_file}")
    show(f"Report:     {res.report}")
    steps = ", ".join(f"{k} {v:.0f}s" for k, v in res.timings.items())
    show(f"Wall time:  {wall_s:.0f}s ({steps}) on {os.cpu_count()} cores [{LABEL}]")
    show("The commands the demo ran:")
    for cmd in res.commands:
        show(f"  {cmd}")

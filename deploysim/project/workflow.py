"""`deploysim run`'s workflow: from one `deploysim.toml`, replay baseline and candidate under
every profile × seed listed, grade both, predict (with an observed corpus) and gate.

Each step is the real command a user would type, run in this process through
`deploysim.cli.run` with `--json` (so `run` does exactly what the commands do, never a
copy of them), under `--config` of the same file. Layout of the outputs folder:

    OUT/runs/<profile>-seed<seed>/baseline/      replay runs (resumable: replayer/run_folder.py)
    OUT/runs/<profile>-seed<seed>/candidate/
    OUT/grades/<profile>-seed<seed>-<side>.json  `deploysim grade --json`
    OUT/predictions/<profile>-seed<seed>.json    `deploysim predict --json` (with `observed`)
    OUT/gates/<profile>-seed<seed>/report.html   `deploysim gate --report` (+ .md, .json)
    OUT/report.md                                every gate's Markdown report, for CI summaries
    OUT/summary.json                             what `run --json` prints
    OUT/.steps/                                  what is done (step_records.py)
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploysim.project.loading import ConfigError, LoadedConfig
from deploysim.project.settings import DeploysimConfig, Endpoint
from deploysim.project.step_records import (
    StepRecord,
    StepStore,
    corpus_fingerprint,
    file_fingerprint,
    run_fingerprint,
    step_key,
)
from recorder.errors import DeploysimError

DONE_EARLIER = "done earlier"


class StepFailed(DeploysimError):
    """A step's command failed; its own message is printed above this one."""


@dataclass(frozen=True)
class Pair:
    """One profile × seed: a baseline run, a candidate run and a gate."""

    profile: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.profile}-seed{self.seed}"


@dataclass
class StepOutcome:
    """What a step did, for the progress line and the summary."""

    step: str
    status: str
    seconds: float
    exit: int
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """What `deploysim run` produced."""

    out: str
    steps: list[StepOutcome] = field(default_factory=list)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    """pair name -> the gate's JSON (decision, behaviors, report paths)."""
    markdown: str | None = None

    @property
    def decision(self) -> str:
        decisions = [g.get("decision") for g in self.gates.values()]
        return "block" if "block" in decisions or not decisions else "pass"

    @property
    def exit_code(self) -> int:
        return 1 if self.decision == "block" else 0

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "exit_code": self.exit_code, "out": self.out,
                "markdown": self.markdown,
                "gates": {name: {"decision": g.get("decision"),
                                 "behaviors": g.get("behaviors", {}),
                                 "reasons": g.get("reasons", []),
                                 "report": g.get("report", []), "audit": g.get("audit")}
                          for name, g in self.gates.items()},
                "steps": [{"step": s.step, "status": s.status, "seconds": round(s.seconds, 3),
                           "exit": s.exit} for s in self.steps]}


def invoke(config_path: Path, argv: list[str]) -> tuple[int, dict[str, Any]]:
    """Run `deploysim --config CONFIG ARGV --json` in this process; its exit code and JSON."""
    from deploysim.cli import run

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = run(["--config", str(config_path), *argv])
    text = buf.getvalue()
    try:
        doc = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        doc = {"output": text[-2000:]}
    return code, doc if isinstance(doc, dict) else {"output": doc}


class Pipeline:
    """Runs the steps of one config in order, skipping those done earlier."""

    def __init__(self, loaded: LoadedConfig, say: Callable[[str], None],
                 progress: str | None = None) -> None:
        self.config: DeploysimConfig = loaded.config
        self.path = loaded.path
        self.say = say
        self.progress = progress
        self.out = Path(self.config.out)
        self.store = StepStore(self.config.out)
        self.result = RunResult(out=self.config.out)
        pairs = [Pair(p, s) for p in self.config.replay.profiles for s in self.config.replay.seeds]
        self.pairs = pairs
        per_pair = 5 + (1 if self.config.observed else 0)
        self.total = per_pair * len(pairs)
        self.rubric = self._rubric()

    def _rubric(self) -> str:
        """The rubric both grading and the gate use: the policy's, which a `rubric` key in the
        config may name too but never contradict (the gate grades with the policy's)."""
        from grader.policy import load_policy
        from grader.rubric import load_rubric

        policy_rubric = load_policy(self.config.policy).rubric_ref()
        if self.config.rubric is None:
            return policy_rubric
        if load_rubric(self.config.rubric).hash != load_rubric(policy_rubric).hash:
            raise ConfigError(f"{self.path}: rubric {self.config.rubric} is not the rubric the "
                              f"policy {self.config.policy} gates with ({policy_rubric}); set "
                              "the same rubric in both, or remove `rubric` from the config.")
        return self.config.rubric

    # -- the steps ------------------------------------------------------------------------

    def run(self) -> RunResult:
        from deploysim.outputs import check_out_dir

        check_out_dir(self.config.out, option=f"out (in {self.path})")
        for pair in self.pairs:
            runs = {side: self.out / "runs" / pair.name / side
                    for side in ("baseline", "candidate")}
            for side, endpoint in (("baseline", self.config.baseline),
                                   ("candidate", self.config.candidate)):
                self._replay(pair, side, endpoint, runs[side])
            for side in ("baseline", "candidate"):
                self._grade(pair, side, runs[side])
            if self.config.observed:
                self._predict(pair, runs)
            self._gate(pair, runs)
        self.result.markdown = self._markdown()
        (self.out / "summary.json").write_text(json.dumps(self.result.to_dict(), indent=2))
        return self.result

    def _replay(self, pair: Pair, side: str, ep: Endpoint, run_dir: Path) -> None:
        r = self.config.replay
        argv = ["replay", *self.config.corpus, "--model", ep.model, "--base-url", ep.base_url,
                "--api", ep.api, "--mode", r.mode, "--profile", pair.profile, "--seed",
                str(pair.seed), "--samples", str(r.samples), "--concurrency",
                str(r.concurrency), "--miss", r.miss, "--out", str(run_dir)]
        if ep.api_key_env:
            argv += ["--api-key-env", ep.api_key_env]
        if self.progress:
            argv += ["--progress", self.progress]
        step = f"replay-{pair.name}-{side}"
        key = step_key(argv, [corpus_fingerprint(self.config.corpus)])
        earlier = self.store.done(step, key)
        # the run folder must still hold what the record says (not deleted or rerun by hand)
        if earlier and earlier.result.get("fingerprint") == run_fingerprint(str(run_dir)):
            self._note(StepOutcome(step, DONE_EARLIER, earlier.seconds, earlier.exit,
                                   earlier.result))
            return
        outcome = self._execute(step, [*argv, "--json"], ok=(0, 3))
        if outcome.exit == 3:
            self.say(f"  warning: some of the {side}'s tool calls had no recording and no "
                     "fallback (stub misses; the replay's summary above names them)")
        outcome.result["fingerprint"] = run_fingerprint(str(run_dir))
        self._save(step, key, outcome)

    def _grade(self, pair: Pair, side: str, run_dir: Path) -> None:
        argv = ["grade", str(run_dir), "--rubric", self.rubric]
        self._cached(f"grade-{pair.name}-{side}", argv,
                     [run_fingerprint(str(run_dir)), file_fingerprint(self.rubric)],
                     self.out / "grades" / f"{pair.name}-{side}.json")

    def _predict(self, pair: Pair, runs: dict[str, Path]) -> None:
        assert self.config.observed is not None
        argv = ["predict", "--baseline", str(runs["baseline"]), "--candidate",
                str(runs["candidate"]), "--observed", self.config.observed, "--rubric",
                self.rubric]
        if self.config.mix:
            argv += ["--mix", self.config.mix]
        self._cached(f"predict-{pair.name}", argv, [
            run_fingerprint(str(runs["baseline"])), run_fingerprint(str(runs["candidate"])),
            corpus_fingerprint(self.config.observed), file_fingerprint(self.rubric),
            file_fingerprint(self.config.mix)], self.out / "predictions" / f"{pair.name}.json")

    def _gate(self, pair: Pair, runs: dict[str, Path]) -> None:
        c = self.config
        report = self.out / "gates" / pair.name / "report.html"
        argv = ["gate", "--baseline", str(runs["baseline"]), "--candidate",
                str(runs["candidate"]), "--policy", c.policy, "--report", str(report)]
        for option, value in (("--audit", c.audit), ("--mix", c.mix),
                              ("--observed", c.observed)):
            if value:
                argv += [option, value]
        inputs = [run_fingerprint(str(runs["baseline"])),
                  run_fingerprint(str(runs["candidate"])), file_fingerprint(c.policy),
                  file_fingerprint(self.rubric), file_fingerprint(c.mix),
                  corpus_fingerprint(c.observed) if c.observed else "none"]
        # a gate done earlier is not run again: it would append the same decision to the
        # audit log a second time
        outcome = self._cached(f"gate-{pair.name}", argv, inputs, report.with_suffix(".json"),
                               ok=(0, 1), keep=False)
        self.result.gates[pair.name] = outcome.result

    # -- running and remembering ----------------------------------------------------------

    def _cached(self, step: str, argv: list[str], inputs: list[str], out_file: Path, *,
                ok: tuple[int, ...] = (0,), keep: bool = True) -> StepOutcome:
        key = step_key(argv, inputs)
        earlier = self.store.done(step, key)
        if earlier is not None and out_file.exists():
            outcome = StepOutcome(step, DONE_EARLIER, earlier.seconds, earlier.exit,
                                  earlier.result)
            self._note(outcome)
            return outcome
        outcome = self._execute(step, [*argv, "--json"], ok=ok)
        if keep:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            out_file.write_text(json.dumps(outcome.result, indent=2) + "\n")
        self._save(step, key, outcome)
        return outcome

    def _execute(self, step: str, argv: list[str], ok: tuple[int, ...]) -> StepOutcome:
        self.say(f"[{len(self.result.steps) + 1}/{self.total}] {step} ...")
        t = time.perf_counter()
        code, doc = invoke(self.path, argv)
        seconds = time.perf_counter() - t
        if code == 130:  # Ctrl-C inside the step: stop as the user asked (no record kept)
            raise KeyboardInterrupt
        if code not in ok:
            raise StepFailed(f"Step {step} (`deploysim {' '.join(argv[:1])}`) failed with exit "
                             f"{code} (its message is above); fix that and rerun `deploysim "
                             "run`: the steps already done are kept.")
        outcome = StepOutcome(step, "done", seconds, code, doc)
        self._note(outcome, announce=False)
        return outcome

    def _save(self, step: str, key: str, outcome: StepOutcome) -> None:
        self.store.save(step, StepRecord(key=key, exit=outcome.exit, result=outcome.result,
                                         seconds=outcome.seconds))

    def _note(self, outcome: StepOutcome, announce: bool = True) -> None:
        self.result.steps.append(outcome)
        n = f"[{len(self.result.steps)}/{self.total}]"
        if announce:
            self.say(f"{n} {outcome.step}: {DONE_EARLIER}")
        else:
            self.say(f"{n} {outcome.step}: done in {outcome.seconds:.1f}s")

    def _markdown(self) -> str | None:
        """Every gate's Markdown report in one file (what a CI job summary shows)."""
        parts = []
        for name, gate in self.result.gates.items():
            md = next((p for p in gate.get("report", []) if str(p).endswith(".md")), None)
            if md and Path(md).exists():
                title = f"## deploysim gate: {name}: {str(gate.get('decision')).upper()}\n\n"
                parts.append(title + Path(md).read_text())
        if not parts:
            return None
        path = self.out / "report.md"
        path.write_text("\n\n".join(parts))
        return str(path)

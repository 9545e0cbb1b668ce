"""One run of the world: record the windows, replay, grade, estimate, score every cell.

Windows form a chain: window k is release k's production; for the pair (k, k+1) window k is
the production the estimates see and window k+1 the deployment whose graded recording is the
truth. Replays of window k run while window k+1 records (they use other cores' idle time).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.fidelity import estimates as E
from bench.fidelity.measure import Unit, as_graded, grade, rate, replay
from bench.fidelity.noisy_grader import write_rubric
from bench.fidelity.params import BEHAVIORS, RELEASES, REVIEW_ITEMS, WorldConfig
from bench.fidelity.scoring import MOVED, direction, score
from bench.fidelity.server import ROOT, servers
from bench.fidelity.variants import eb_shrunk
from bench.fidelity.windows import deploysim, env, record_window

Graded = dict[str, list[Unit]]


@dataclasses.dataclass
class WorldRun:
    """Everything one world run produced."""

    cfg: WorldConfig
    out: Path
    windows: list[Graded] = dataclasses.field(default_factory=list)
    runs: dict[str, Graded] = dataclasses.field(default_factory=dict)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    recorded: list[dict[str, float]] = dataclasses.field(default_factory=list)
    noise: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def run_world(cfg: WorldConfig, out: Path, *, rollout: bool, noise: bool,
              say: Any = print) -> WorldRun:
    """Record, replay and grade everything one world needs (see module docstring)."""
    res = WorldRun(cfg, out)
    t0 = time.perf_counter()
    spec = {"seed": cfg.seed + 1, "stochastic": cfg.switches.stochastic}
    with servers(spec, out / "logs" / "servers-replay.log") as world, \
            ThreadPoolExecutor(4) as pool:
        base = world.urls["model"] + "/v1"
        pending: dict[str, Future[Graded]] = {}

        def replay_and_grade(corpus: Path, model: str, name: str, roll: bool) -> Graded:
            run = out / "runs" / name
            t = time.perf_counter()
            summary = replay(corpus, model, base, run, cfg.seed, rollout=roll)
            graded = grade(run)
            say(f"  {name}: {summary.get('counts')} in {time.perf_counter() - t:.1f} s")
            return graded

        for k in range(len(RELEASES)):
            w = cfg.window(k)
            corpus = out / f"window{k}"
            res.recorded.append(record_window(cfg, w, corpus, cfg.seed))
            say(f"  window {k} ({w.release}): {res.recorded[-1]}")
            res.windows.append(grade(corpus))
            if k + 1 < len(RELEASES):
                for role, model in (("baseline", RELEASES[k]), ("candidate", RELEASES[k + 1])):
                    modes = (False, True) if rollout else (False,)
                    for roll in modes:
                        name = f"pair{k}-{role}-{'rollout' if roll else 'prefix'}"
                        pending[name] = pool.submit(replay_and_grade, corpus, model, name, roll)
        if noise:
            # the noise floor: the last deployment window recorded once more, another seed
            for k in (len(RELEASES) - 1,):
                corpus = out / f"window{k}-again"
                rec = record_window(cfg, cfg.window(k), corpus, cfg.seed + 1000)
                say(f"  window {k} again: {rec}")
                res.noise.append({"window": k, "graded": grade(corpus)})
        for name, fut in pending.items():
            res.runs[name] = fut.result()
    res.timings["world_s"] = round(time.perf_counter() - t0, 1)
    return res


def rescore_world(cfg: WorldConfig, out: Path) -> WorldRun:
    """A world recorded earlier (`--keep`), read back without recording or replaying anything:
    to score a changed estimator on the same data."""
    res = WorldRun(cfg, out)
    k = 0
    while (out / f"window{k}").is_dir():
        res.windows.append(grade(out / f"window{k}"))
        k += 1
    for run in sorted((out / "runs").iterdir()):
        res.runs[run.name] = grade(run)
    for again in sorted(out.glob("window*-again")):
        res.noise.append({"window": int(again.name[6:].split("-")[0]), "graded": grade(again)})
    return res


def cells(res: WorldRun, grader_error: bool | None = None) -> list[dict[str, Any]]:
    """Every (release pair, behaviour) cell, scored for each estimator the run has."""
    err = res.cfg.switches.grader_error if grader_error is None else grader_error
    seed = res.cfg.seed
    out = []
    for k in range(len(RELEASES) - 1):
        for b in BEHAVIORS:
            before = rate([u.flagged for u in res.windows[k][b]])
            truth = rate([u.flagged for u in res.windows[k + 1][b]])
            observed = rate(as_graded(res.windows[k][b], b, seed, err))
            cell: dict[str, Any] = {
                "pair": f"{RELEASES[k]}->{RELEASES[k + 1]}", "behavior": b,
                "true": round(truth.rate, 5), "true_n": truth.n, "true_k": truth.k,
                "true_before": round(before.rate, 5),
                "true_direction": direction(truth.rate, before.rate),
                "moved": max(truth.rate, before.rate) >= MOVED * min(truth.rate, before.rate)
                and truth.rate + before.rate > 0,
                "informative": truth.k + before.k > 0,
            }
            cell["naive"] = score(observed.rate, observed.wilson(), observed.rate,
                                  truth.rate, truth.n)
            for mode in ("prefix", "rollout"):
                cand = res.runs.get(f"pair{k}-candidate-{mode}")
                basel = res.runs.get(f"pair{k}-baseline-{mode}")
                if cand is None or basel is None:
                    continue
                c = rate(as_graded(cand[b], b, seed, err))
                r = rate(as_graded(basel[b], b, seed, err))
                name = "uncorrected" if mode == "prefix" else "rollout"
                cell[name] = score(c.rate, c.wilson(), r.rate, truth.rate, truth.n)
            out.append(cell)
    return out


def history_for(res: WorldRun, k: int, rubric: tuple[str, ...] = ()) -> Path:
    """The calibration history a user would hold when predicting pair k, written with
    `deploysim calibrate --history` from what was measurable *before* window k+1 exists:

    - the deployed release k against its own production (`simulated`: replay of window k by
      release k vs window k as observed), and
    - for every earlier pair j < k, the anchored prediction it made against the production
      that followed (window j, release j's replay, window j+1, release j+1's replay of window j:
      `anchored`). Never pair k itself, whose truth is what is being scored.

    `rubric` (`--rubric FILE`) grades as the user's grader does (with the world's error)."""
    path = res.out / f"history{k}.json"
    path.unlink(missing_ok=True)
    runs = res.out / "runs"
    calls = [[(res.out / f"window{k}", runs / f"pair{k}-baseline-prefix")]]
    calls += [[(res.out / f"window{j}", runs / f"pair{j}-baseline-prefix"),
               (res.out / f"window{j + 1}", runs / f"pair{j}-candidate-prefix")]
              for j in range(k)]
    for pairs in calls:
        cmd = [*deploysim(), "calibrate", "--history", str(path), "--json", *rubric]
        for observed, simulated in pairs:
            cmd += ["--observed", str(observed), "--simulated", str(simulated)]
        done = subprocess.run(cmd, capture_output=True, env=env(), cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"`deploysim calibrate --history {path}` failed (exit "
                               f"{done.returncode}): {done.stderr.decode()[-600:]}")
    return path


def grader_rubric(res: WorldRun) -> tuple[str, ...]:
    """`--rubric FILE` of the world's erring grader (`noisy_grader`), or () when the world's
    grader does not err (the ablation that switches it off)."""
    if not res.cfg.switches.grader_error:
        return ()
    return ("--rubric", str(write_rubric(res.out / "grader.toml", res.cfg.seed)))


def review_for(res: WorldRun, k: int, rubric: tuple[str, ...]) -> Path:
    """A human review of production window k as a user would run it: `deploysim review
    export` of `REVIEW_ITEMS` verdicts of the user's grader, labelled by reviewers who see the
    truth (the world's error-free verdicts). Returns the labelled review.csv."""
    folder = res.out / f"review{k}"
    cmd = [*deploysim(), "review", "export", str(res.out / f"window{k}"), *rubric,
           "--sample", str(REVIEW_ITEMS), "--seed", str(res.cfg.seed), "--out", str(folder)]
    done = subprocess.run(cmd, capture_output=True, env=env(), cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"`deploysim review export` of window {k} failed (exit "
                           f"{done.returncode}): {done.stderr.decode()[-600:]}")
    truth = {(b, u.session, u.turn): u.flagged for b, units in res.windows[k].items()
             for u in units}
    key = {}
    for line in (folder / "review-key.jsonl").read_text().splitlines():
        row = json.loads(line)
        key[row["item"]] = truth.get((row["behavior"], row["session_id"], row["turn"]))
    labels = folder / "review.csv"
    with labels.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = list(reader.fieldnames or ()), list(reader)
    for row in rows:
        human = key.get(row["item"])
        row["label"] = "" if human is None else ("yes" if human else "no")
    with labels.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(rows)
    return labels


def add_predictions(res: WorldRun, table: list[dict[str, Any]], corrections_off: bool) -> None:
    """Score `deploysim predict` on every cell (and, with `corrections_off`, predict with each
    correction it lets a caller switch off, off in turn)."""
    rubric = grader_rubric(res)
    for k in range(len(RELEASES) - 1):
        # the deployment mix is known (planned traffic), so predict reweights to it
        mix = res.out / f"mix{k + 1}.toml"
        mix.write_text("".join(f'"{s}" = {v}\n' for s, v in res.cfg.window(k + 1).mix.items()))
        hist = ("--history", str(history_for(res, k, rubric)))
        review = ("--review", str(review_for(res, k, rubric))) if rubric else ()
        runs = (res.out / "runs" / f"pair{k}-baseline-prefix",
                res.out / "runs" / f"pair{k}-candidate-prefix", res.out / f"window{k}")
        # each correction off in turn: the deployment mix (no --mix), the simulation's own
        # error (no --history), the grader's error (no --review)
        full = ("--mix", str(mix), *hist, *review)
        variants: list[tuple[str, tuple[str, ...]]] = [("predict", full)]
        if corrections_off:
            variants += [("predict_no_mix", (*hist, *review)),
                         ("predict_no_history", ("--mix", str(mix), *review)),
                         ("predict_no_review", ("--mix", str(mix), *hist))]
        jobs = [(name, runs, extra) for name, extra in variants]
        rollout = (res.out / "runs" / f"pair{k}-baseline-rollout",
                   res.out / "runs" / f"pair{k}-candidate-rollout", res.out / f"window{k}")
        if corrections_off and rollout[0].is_dir():
            # the same prediction anchored on rollout replays instead of prefix ones
            jobs.append(("predict_rollout", rollout, full))
        for name, inputs, extra in jobs:
            got = E.predict(*inputs, (*rubric, *extra), save=res.out / f"{name}{k}.json")
            shrunk = eb_shrunk(json.loads((res.out / f"{name}{k}.json").read_text())
                               ["behaviors"]) if name == "predict" and corrections_off else {}
            for cell in table:
                if cell["pair"] == f"{RELEASES[k]}->{RELEASES[k + 1]}" and \
                        cell["behavior"] in got:
                    e = got[cell["behavior"]]
                    cell[name] = score(e.rate, e.interval, e.reference, cell["true"],
                                       cell["true_n"], e.call)
                    if cell["behavior"] in shrunk:  # measured, not adopted (report.py)
                        cell["predict_eb"] = score(shrunk[cell["behavior"]], None, e.reference,
                                                   cell["true"], cell["true_n"])


def noise_floor(res: WorldRun) -> list[dict[str, Any]]:
    """One model measured twice: each deployment window's true rates against a re-recording."""
    from bench.fidelity.scoring import multiplicative_error

    rows = []
    for again in res.noise:
        k = again["window"]
        for b in BEHAVIORS:
            a = rate([u.flagged for u in res.windows[k][b]])
            c = rate([u.flagged for u in again["graded"][b]])
            if a.k + c.k:
                rows.append({"window": k, "behavior": b, "first": round(a.rate, 5),
                             "second": round(c.rate, 5),
                             "error": round(multiplicative_error(c.rate, a.rate, a.n), 3)})
    return rows

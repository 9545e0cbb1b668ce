"""Grade a run or a corpus with a rubric; store the verdicts beside it as annotations.

    result = grade("runs/candidate", load_rubric("default"))
    result.summary()           # what `deploysim grade --json` prints
    result.verdicts            # one per (counted turn | session) x behavior

Targets: a run folder (`manifest.json` + trajectory cassettes), or a corpus spec (cassette
files, folders, globs, fsspec URLs). Verdicts go to `verdicts-<rubric hash[:12]>.cassette` in
the run folder, the corpus folder (the first cassette's folder for a list or glob), or
`verdicts_out`. Recorded data is only read, never rewritten; grading never calls a candidate
model, so re-grading with a new rubric regenerates nothing. Verdict records carry no time:
grading the same inputs again gives the same records, and an unchanged verdict file is left
untouched, byte for byte.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from grader.detectors import Finding, get_detector
from grader.detectors.llm_judge import LlmJudgeDetector
from grader.errors import DetectorError, GraderError
from grader.rubric import Rubric
from grader.trajectory import Trajectory
from grader.verdict import Verdict
from grader.verdict_engine import Engine
from grader.verdict_store import (  # re-exported: part of this module's API
    Target,
    VerdictSink,
    is_verdicts_file,
    output_path,
    read_verdicts,
    resolve_target,
    verdicts_filename,
)
from recorder import codec, storage
from recorder.annotation import Annotation
from recorder.corpus import Corpus
from recorder.session import Session
from runtime.model_client import ModelClient
from runtime.response_cache import ResponseCache

__all__ = ["GradeResult", "JudgeFactory", "Target", "VerdictSink", "grade", "grade_async",
           "grade_sessions", "is_async_rubric", "is_verdicts_file", "read_verdicts",
           "resolve_target", "verdicts_filename"]

BATCH = 64
"""Sessions per batch when a rubric has asynchronous (LLM judge) detectors."""

JudgeFactory = Callable[[str, str, str | None], ModelClient]
"""(api, model, base_url) -> a model client, for judges whose rubric table names a model."""


# -- results -------------------------------------------------------------------------------


@dataclass
class GradeResult:
    """What grading produced: the verdicts (when kept), where they went, and the tally."""

    rubric: Rubric
    engine: Engine
    target: list[str] = field(default_factory=list)
    verdicts_path: str | None = None
    duplicates: int = 0
    invalid_sessions: int = 0
    problems: int = 0
    payloads: list[bytes] | None = None
    """The encoded verdict records (kept unless keep=False)."""
    _verdicts: list[Verdict] | None = None

    @property
    def verdicts(self) -> list[Verdict]:
        """Every verdict, in session order, then rubric order, then turn order."""
        if self._verdicts is None:
            if self.payloads is None:
                raise GraderError("This grading ran with keep=False, so its verdicts were not "
                                  "kept in memory; read them with read_verdicts(verdicts_path).")
            self._verdicts = [Verdict.from_annotation(Annotation.model_validate(codec.decode(p)))
                              for p in self.payloads]
        return self._verdicts

    def summary(self) -> dict[str, Any]:
        """The stable object `deploysim grade --json` prints (see docs/rubric.md)."""
        behaviors = self.engine.summary()
        return {
            "rubric": self.rubric.hash,
            "rubric_name": self.rubric.name,
            "target": self.target,
            "verdicts_path": self.verdicts_path,
            "sessions": self.engine.sessions,
            "turns": self.engine.turns,
            "errors": sum(b["errors"] for b in behaviors.values()),
            "duplicate_sessions": self.duplicates,
            "invalid_sessions": self.invalid_sessions,
            "problems": self.problems,
            "behaviors": behaviors,
        }


# -- grading ---------------------------------------------------------------------------------


@dataclass
class _Run:
    engine: Engine
    keep: bool
    sink: VerdictSink | None
    payloads: list[bytes] | None = None
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    invalid: int = 0

    def accept(self, session_id: str) -> bool:
        if session_id in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(session_id)
        return True

    def emit(self, payloads: list[bytes]) -> None:
        if self.sink is not None:
            self.sink.write(payloads)
        if self.payloads is not None:
            self.payloads.extend(payloads)


def _trajectories(corpus: Corpus, run: _Run) -> Iterator[Trajectory]:
    """The corpus's sessions as trajectories, built from the decoded records directly (no
    pydantic validation per session); a record of the wrong shape is validated to decide
    whether it is invalid (counted, skipped) or merely unusual."""
    for _path, obj in corpus.objs():
        if obj.get("kind") != "session":
            continue
        try:
            traj = Trajectory.from_record(obj)
        except Exception:
            try:
                traj = Trajectory(Session.model_validate(obj))
            except Exception:
                run.invalid += 1
                continue
        if run.accept(traj.id):
            yield traj


def _bind_judges(engine: Engine, judge: ModelClient | None, judge_factory: JudgeFactory | None,
                 judge_model: str | None, cache: ResponseCache | None) -> list[ModelClient]:
    """Give every LLM judge its client; returns the clients this grading created (to close)."""
    made: dict[tuple[str, str, str | None], ModelClient] = {}
    for det in engine.detectors:
        if not isinstance(det, LlmJudgeDetector):
            continue
        cfg = det.config
        model = judge_model or cfg.model
        if judge is not None:
            det.bind(judge, cache, judge_model)
        elif model and judge_factory is not None:
            key = (cfg.api, model, cfg.base_url)
            if key not in made:
                made[key] = judge_factory(*key)
            det.bind(made[key], cache, model)
        else:
            raise DetectorError(f"Behavior {det.behavior.id!r} uses the llm_judge detector but no "
                                "judge model was given; pass --judge-model (or set `model` in "
                                "its detector table).")
    engine.refresh_pins()
    return list(made.values())


def _start(target: str | list[str], rubric: Rubric, write: bool, verdicts_out: str | None,
           keep: bool) -> tuple[Target, Corpus, _Run]:
    tgt = resolve_target(target, verdicts_out)
    engine = Engine(rubric)
    sink = None
    if write:
        meta = {"rubric_hash": rubric.hash, "rubric_name": rubric.name, "target": tgt.spec,
                "run_id": tgt.run_id}
        path = output_path(tgt.out_dir, rubric)
        parent = os.path.dirname(path) if not storage.is_url(path) else path.rsplit("/", 1)[0]
        if parent:
            storage.makedirs(parent)
        sink = VerdictSink(path, rubric, meta)
    return tgt, Corpus(tgt.paths), _Run(engine, keep, sink, [] if keep else None)


def _result(rubric: Rubric, tgt: Target | None, corpus: Corpus | None, run: _Run) -> GradeResult:
    if run.sink is not None:
        run.sink.finish()
    return GradeResult(rubric, run.engine, tgt.spec if tgt else [],
                       run.sink.path if run.sink else None, run.duplicates, run.invalid,
                       len(corpus.problems) if corpus else 0, run.payloads)


def is_async_rubric(rubric: Rubric) -> bool:
    """True when some behavior's detector calls out (an LLM judge)."""
    return any(getattr(get_detector(b.detector.type), "is_async", False) for b in rubric.behaviors)


def grade(target: str | list[str], rubric: Rubric, *, judge: ModelClient | None = None,
          write: bool = True, verdicts_out: str | None = None, keep: bool = True,
          judge_factory: JudgeFactory | None = None, judge_model: str | None = None,
          judge_cache: str | None = None, concurrency: int = 8) -> GradeResult:
    """Grade a run folder or a corpus (see the module docs). Rubrics with an LLM judge run on
    an event loop of their own; inside a running loop, await `grade_async` instead."""
    if is_async_rubric(rubric):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(grade_async(
                target, rubric, judge=judge, write=write, verdicts_out=verdicts_out, keep=keep,
                judge_factory=judge_factory, judge_model=judge_model, judge_cache=judge_cache,
                concurrency=concurrency))
        raise GraderError("grade() was called inside a running event loop with a rubric that "
                          "uses an LLM judge; await grade_async() there instead.")
    tgt, corpus, run = _start(target, rubric, write, verdicts_out, keep)
    try:
        engine = run.engine
        for traj in _trajectories(corpus, run):
            run.emit(engine.verdicts(traj, engine.detect_sync(traj)))
    except BaseException:
        if run.sink is not None:
            run.sink.abort()
        raise
    return _result(rubric, tgt, corpus, run)


async def grade_async(target: str | list[str], rubric: Rubric, *,
                      judge: ModelClient | None = None, write: bool = True,
                      verdicts_out: str | None = None, keep: bool = True,
                      judge_factory: JudgeFactory | None = None, judge_model: str | None = None,
                      judge_cache: str | None = None, concurrency: int = 8) -> GradeResult:
    """`grade` for use inside an event loop: file reads and writes run in worker threads,
    judge calls run concurrently (at most `concurrency` sessions at a time)."""
    tgt, corpus, run = await asyncio.to_thread(_start, target, rubric, write, verdicts_out, keep)
    cache = ResponseCache(judge_cache) if judge_cache else None
    made: list[ModelClient] = []
    try:
        made = _bind_judges(run.engine, judge, judge_factory, judge_model, cache)
        it = _trajectories(corpus, run)
        while batch := await asyncio.to_thread(_take, it, BATCH):
            payloads = await _grade_batch(run.engine, batch, concurrency)
            await asyncio.to_thread(run.emit, payloads)
    except BaseException:
        if run.sink is not None:
            run.sink.abort()
        raise
    finally:
        for client in made:
            await client.close()
        if cache is not None:
            cache.close()
    return await asyncio.to_thread(_result, rubric, tgt, corpus, run)


def _take(it: Iterator[Trajectory], n: int) -> list[Trajectory]:
    out = []
    for s in it:
        out.append(s)
        if len(out) == n:
            break
    return out


async def _grade_batch(engine: Engine, trajs: list[Trajectory],
                       concurrency: int) -> list[bytes]:
    results = [engine.detect_sync(t) for t in trajs]
    sem = asyncio.Semaphore(concurrency)

    async def judge(i: int, k: int) -> None:
        async with sem:
            try:
                found: list[Finding] | BaseException = await engine.plans[k].detector.adetect(
                    trajs[i])
            except Exception as exc:
                found = exc
            results[i][k] = found

    async with asyncio.TaskGroup() as tg:  # names every task and keeps the references
        for i, t in enumerate(trajs):
            for k, p in enumerate(engine.plans):
                if p.detector.is_async:
                    tg.create_task(judge(i, k), name=f"judge:{p.id}:{t.id}")
    out: list[bytes] = []
    for t, res in zip(trajs, results, strict=True):
        out.extend(engine.verdicts(t, res))
    return out


def grade_sessions(sessions: Iterable[Session], rubric: Rubric) -> GradeResult:
    """Grade sessions held in memory with a rule-based rubric (nothing is written)."""
    if is_async_rubric(rubric):
        raise GraderError("grade_sessions() takes rule-based rubrics only; grade a corpus with "
                          "grade() to use an LLM judge.")
    engine = Engine(rubric)
    run = _Run(engine, True, None, [])
    for s in sessions:
        if run.accept(s.id):
            traj = Trajectory(s)
            run.emit(engine.verdicts(traj, engine.detect_sync(traj)))
    return _result(rubric, None, None, run)



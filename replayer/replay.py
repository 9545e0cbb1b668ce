"""`replay()`: the whole run — validate, select, resume, execute, tally, write the manifest.

>>> summary = await replay(ReplayConfig(corpus=["rec/"], out="runs/c1", model="gpt-5",
...                                     base_url="https://api.openai.com/v1"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

from rich.console import Console

from recorder.collector import paused, replay_collector
from recorder.corpus import Corpus
from recorder.turns import turns
from recorder.version import __version__
from replayer import shard
from replayer.answerer import default_answerer, description
from replayer.clients import DEFAULT_KEY_ENV, Accounting, PriceTable, resolve_api_key
from replayer.clients.adaptive import combine
from replayer.clients.http_client import HttpModelClient
from replayer.executor import run_local, run_ray
from replayer.loop import MISS_REASON
from replayer.prefix import WorkKey
from replayer.progress import ReplayProgress
from replayer.replay_config import ReplayConfig
from replayer.run_folder import RunTally, prepare, run_id_of, scan
from replayer.selection import SessionFacts, select
from replayer.shard import (
    AnswererFactory,
    ClientFactory,
    SessionTurns,
    ShardReport,
    sessions_of,
)
from runtime.run_manifest import RunManifest, write_manifest
from stubs.api import ToolAnswerer
from stubs.miss_policy import answer_mix, fallback_warning


def _check_environment(config: ReplayConfig) -> dict[str, str]:
    """Fail fast on configuration a worker would only discover later; the env to forward."""
    config.check()
    resolve_api_key(config.api, config.base_url, config.api_key_env)
    if config.prices:
        PriceTable.load(config.prices)
    env_name = config.api_key_env or DEFAULT_KEY_ENV.get(config.api, "OPENAI_API_KEY")
    return {env_name: os.environ[env_name]} if os.environ.get(env_name) else {}


def _checked(config: ReplayConfig) -> dict[str, str]:
    config.check()
    return {}


def _describe(info: dict[str, Any], config: ReplayConfig
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest's profile and stubs, from the answerer's `describe()`."""
    profile = info.get("profile")
    profile = profile if isinstance(profile, dict) else {"name": config.profile or "none"}
    stubs = {"fallbacks": list(config.stub_fallbacks), "miss": config.stub_miss,
             "tool_simulator": config.tool_simulator,
             **{k: v for k, v in info.items() if k != "profile"}}
    return profile, stubs


def _read(corpus: Corpus, keep: bool) -> tuple[list[SessionFacts], list[SessionTurns] | None]:
    """Every session's facts (for the selection) and, if `keep`, the sessions with their
    turns — or None once they exceed `shard.KEEP_MESSAGES` (then the shard streams them)."""
    facts: list[SessionFacts] = []
    kept: list[SessionTurns] | None = [] if keep else None
    messages = 0
    for session in sessions_of(corpus):
        session_turns = turns(session)
        facts.append(SessionFacts.of(session, session_turns))
        if kept is not None:
            kept.append((session, session_turns))
            messages += len(session.messages)
            if messages > shard.KEEP_MESSAGES:
                kept = None
    return facts, kept


async def replay(config: ReplayConfig, *, answerer: AnswererFactory | None = None,
                 console: Console | None = None, progress_mode: str | None = None,
                 client_factory: ClientFactory | None = None) -> dict[str, Any]:
    """Run (or resume) a replay and return its summary (also recorded in the manifest).

    `answerer` builds the tool answerer (default: the stub engine over the corpus);
    `client_factory` builds the model clients (default: HTTP clients as configured). With
    `--executor ray` both are sent to the Ray workers, so they must pickle (module-level
    functions and classes do).
    """
    started = time.monotonic()
    env = _check_environment(config) if client_factory is None else _checked(config)
    return await _replay(config, answerer or default_answerer, env, started, console=console,
                         progress_mode=progress_mode, client_factory=client_factory)


async def _replay(config: ReplayConfig, factory: AnswererFactory, env: dict[str, str],
                  started: float, *, console: Console | None, progress_mode: str | None,
                  client_factory: ClientFactory | None) -> dict[str, Any]:
    corpus = Corpus(config.corpus)
    in_process = config.executor == "local"
    with ExitStack() as run_collector:
        # what the run keeps to its end (sessions, stub index) is read with the collector
        # paused, then frozen for the run by `replay_collector`: recorder.collector's figure
        with paused():
            facts, kept = _read(corpus, keep=in_process)
            chosen, selection = select(facts, filter_expr=config.filter, n=config.sample,
                                       stratify_by=config.stratify_by, seed=config.seed)
            # built here with Ray too: fails fast, describes the stubs
            local_answerer: ToolAnswerer = factory(corpus, config)
            run_collector.enter_context(replay_collector())
        info = description(local_answerer)
        profile, stubs = _describe(info, config)
        identity = config.identity(corpus.content_hash())
        manifest = RunManifest(
            run_id=run_id_of(identity), kind="replay", created=time.time(),
            deploysim_version=__version__, corpus_hash=identity["corpus_hash"],
            corpus_paths=list(config.corpus), model={**identity["model"], "params": config.params},
            mode=config.mode, profile=profile, seed=config.seed, samples=config.samples,
            stubs=stubs, selection=selection, identity=identity, status="running",
            executor=config.executor, max_steps=config.max_steps)
        previous = prepare(config.out, manifest)
        if previous is not None:
            manifest.created = previous.created
        write_manifest(config.out, manifest)

        every = {key for f in chosen for key in _keys(f, config)}
        present, prior = scan(config.out)
        done = present & every
        pending = every - done
        # the pending sessions, as the shard would read them
        todo = shard.of_shard(kept, pending) if kept is not None else None
        del kept
        if config.executor == "ray":
            create_cache(config)
        reports: list[ShardReport] = []
        status = "interrupted"
        run_started, cpu_started = time.monotonic(), time.process_time()
        try:
            with ReplayProgress(len(pending), console or Console(stderr=True),
                                mode=progress_mode) as progress:
                if config.batch:
                    from replayer.batch.rounds import run_batch

                    reports = await run_batch(config, run_id=manifest.run_id, pending=pending,
                                              answerer=local_answerer, progress=progress,
                                              client_factory=client_factory, sessions=todo)
                elif config.executor == "ray":
                    reports = await run_ray(config, run_id=manifest.run_id, pending=pending,
                                            answerer=factory, progress=progress, env=env,
                                            client_factory=client_factory)
                else:
                    reports = await run_local(config, run_id=manifest.run_id, pending=pending,
                                              answerer=local_answerer, progress=progress,
                                              client_factory=client_factory, sessions=todo)
            status = "complete"
        finally:
            summary = _finish(config, manifest, previous, prior, reports, status,
                              skipped=len(done), elapsed=time.monotonic() - started)
            summary["run_s"] = round(time.monotonic() - run_started, 3)
            # this process's CPU during the execution phase beyond the shards it ran itself:
            # progress and coordination (the Ray driver)
            own = time.process_time() - cpu_started
            if in_process:
                own -= sum(r.cpu_s for r in reports)
            summary["coordinator_cpu_s"] = round(max(0.0, own), 3)
            if config.batch:
                from replayer.batch.batch_ledger import BatchLedger

                summary["batch"] = BatchLedger.load(config.out, run_id=manifest.run_id,
                                                    api=config.api).summary()
        return summary


def create_cache(config: ReplayConfig) -> None:
    """Create the response cache, in WAL mode, before several processes open it at once:
    switching a new database to WAL needs it to itself, and SQLite answers "database is
    locked" at once, rather than waiting, to the loser of that race. Once the file is in WAL
    mode (a lasting property of the file) the shards' openings do not contend."""
    if config.cache:
        from replayer.cache import RunCache

        RunCache(config.cache_path()).close()


def _keys(facts: SessionFacts, config: ReplayConfig) -> list[WorkKey]:
    """The work keys of a selected session (as `shard.work_keys`, from its facts alone)."""
    if config.mode == "prefix":
        return [(facts.id, t, k) for t in range(facts.turns) for k in range(config.samples)]
    return [(facts.id, None, k) for k in range(config.samples)] if facts.user_messages else []


def _finish(config: ReplayConfig, manifest: RunManifest, previous: RunManifest | None,
            prior: RunTally, reports: list[ShardReport], status: str, *, skipped: int,
            elapsed: float) -> dict[str, Any]:
    """Count the run (what was there before plus what the shards wrote), write the final
    manifest, and build the summary."""
    if status == "complete":
        t = RunTally()
        t.merge(prior)
        for r in reports:
            t.merge(r.tally)
    else:  # the shards' own counts were lost with them: count what reached the disk
        t = scan(config.out)[1]
    usage = Accounting()
    old = previous.model_dump() if previous is not None else {}
    if old.get("usage"):
        usage.merge(old["usage"])
    for r in reports:
        usage.merge(r.accounting)
    misses = list(old.get("misses") or [])
    for r in reports:
        misses += r.misses
    stub_stats: Counter[str] = Counter()
    for r in reports:
        stub_stats.update({k: v for k, v in r.stubs.items() if isinstance(v, int)})
    manifest.counts = t.counts()
    manifest.provenance = dict(sorted(t.provenance.items()))
    manifest.misses = misses[:200]
    answers = answer_mix(t.provenance)
    warning = fallback_warning(answers)
    updates = {"status": status, "usage": usage.to_dict(),
               "errors_by_reason": dict(sorted(t.errors_by_reason.items())),
               "stub_stats": dict(stub_stats), "answers": answers,
               "warnings": [warning] if warning else [],
               "concurrency": combine(r.concurrency for r in reports)}
    for key, value in updates.items():
        setattr(manifest, key, value)
    write_manifest(config.out, manifest)
    written = sum(r.written for r in reports)
    return {"run_id": manifest.run_id, "out": config.out, "status": status,
            "counts": manifest.counts, "errors_by_reason": updates["errors_by_reason"],
            "provenance": manifest.provenance, "usage": updates["usage"],
            "written": written, "skipped": skipped, "elapsed_s": round(elapsed, 3),
            "cpu_s": round(sum(r.cpu_s for r in reports), 3),
            "simulator_errors": sum(len(r.simulator_errors) for r in reports),
            "misses": len(misses), "answers": answers, "warnings": updates["warnings"],
            "concurrency": updates["concurrency"],
            "failed_by_miss": t.errors_by_reason.get(MISS_REASON, 0),
            "missed_calls": [_named(m) for m in misses[:MAX_NAMED_MISSES]]}


MAX_NAMED_MISSES = 20
"""Missed calls the summary names (the manifest keeps up to 200 with their diagnostics)."""


def _named(miss: dict[str, Any]) -> dict[str, Any]:
    """A missed call as the summary names it: which call, which session, why."""
    return {k: miss.get(k) for k in ("tool", "arguments", "session", "trajectory",
                                      "call_index", "reason", "failed_turn")}


__all__ = ["HttpModelClient", "ReplayConfig", "default_answerer", "replay"]

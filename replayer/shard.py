"""One shard of a replay: the async loop that every executor runs (in-process, or in each Ray
worker on its share of the sessions).

It streams the corpus, queues the work keys still owed, runs `concurrency` workers, and writes
each trajectory to its own cassette the moment it finishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.collector import replay_collector
from recorder.corpus import Corpus
from recorder.reader import CassetteReader
from recorder.session import Session
from recorder.turns import Turn, turns
from replayer.answerer import release, simulator_failures
from replayer.cache import AsyncCache, RunCache
from replayer.clients import (
    Accounting,
    PriceTable,
    RateLimiter,
    RetryPolicy,
    adaptive,
    make_client,
)
from replayer.clients.http_client import HttpModelClient
from replayer.errors import StepDeferred
from replayer.loop import Candidate, DeferredAnswers
from replayer.prefix import WorkKey, prefix_keys, replay_turn
from replayer.replay_config import ReplayConfig
from replayer.replayed_trajectory import Trajectory, trajectory_id
from replayer.rollout import replay_session, rollout_keys
from replayer.run_folder import RunTally, TrajectoryWriter
from replayer.user_sim import UserSimulator
from runtime.model_client import ModelClient
from runtime.tasks import TaskGroup
from stubs.api import ToolAnswerer
from stubs.miss_policy import fails_trajectory

AnswererFactory = Callable[[Corpus, ReplayConfig], ToolAnswerer]
"""Builds the tool answerer of a shard (the stub engine, normally)."""

ClientFactory = Callable[[ReplayConfig, str, Accounting], ModelClient]
"""Builds a model client for (config, model name, accounting to update)."""

OnDone = Callable[[Trajectory, Accounting], None]
"""Called after each trajectory is written (progress reporting)."""

MAX_MISSES = 200


class BatchedProgress:
    """An `OnDone` that passes a shard's progress on in batches — trajectories done and errors
    since the last batch, with the shard's accounting — at most every `every` seconds (a
    message to another process per trajectory would cost more than the trajectory)."""

    def __init__(self, send: Callable[[int, int, Accounting], None], every: float) -> None:
        self._send = send
        self.every = every
        self.done = self.errors = 0
        self.sent = time.monotonic()

    def __call__(self, traj: Trajectory, acc: Accounting) -> None:
        self.done += 1
        self.errors += len(traj.errors)
        if time.monotonic() - self.sent >= self.every:
            self.flush(acc)

    def flush(self, acc: Accounting) -> None:
        """Send what has accumulated now."""
        self._send(self.done, self.errors, acc)
        self.done = self.errors = 0
        self.sent = time.monotonic()


@dataclass
class ShardReport:
    """What a shard did in this invocation."""

    shard: str
    written: int = 0
    errors: int = 0
    accounting: dict[str, Any] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)
    simulator_errors: list[str] = field(default_factory=list)
    stubs: dict[str, Any] = field(default_factory=dict)
    tally: RunTally = field(default_factory=RunTally)
    """Counts over the trajectories this shard wrote."""
    cpu_s: float = 0.0
    """CPU seconds the shard's process used while the shard ran (deploysim's own cost)."""
    concurrency: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per endpoint: what its adaptive limit on calls in flight settled on
    (`replayer.clients.adaptive`)."""


def sessions_of(corpus: Corpus) -> Iterator[Session]:
    """The corpus's conversations: stored sessions, else derived from its exchanges (tool-only
    sessions have no turns to replay and are left out)."""
    from recorder.sessions_of import sessions_of as stored_or_derived

    return stored_or_derived(corpus, include_tool_only=False)


def shard_sessions(corpus: Corpus, ids: Collection[str]) -> Iterator[Session]:
    """`sessions_of(corpus)` restricted to the sessions whose id is in `ids`, in corpus order —
    but only those are validated into `Session`s (a Ray shard needs its own share of a
    corpus, and validation is most of the cost of reading one).

    A corpus without stored sessions derives them from its exchanges, as `sessions_of` does.
    """
    stored = False

    def matching(reader: CassetteReader) -> Iterator[object]:
        nonlocal stored
        for offset, obj in reader.iter_objs():
            if obj.get("kind") != "session":
                continue
            stored = True
            sid = obj.get("id")
            if isinstance(sid, str) and sid in ids:
                yield reader.typed(offset, obj)

    for path in corpus.paths:
        for session in matching(CassetteReader(path)):
            if isinstance(session, Session) and session.source.type != "tool_only":
                yield session
    if not stored:
        yield from (s for s in sessions_of(corpus) if s.id in ids)


SessionTurns = tuple[Session, list[Turn]]
"""A session with its turns (split once, by whoever read it)."""

KEEP_MESSAGES = 200_000
"""Sessions read before the execution phase (by the one-process run for its selection) are
handed to the shard instead of being read again, as long as they hold at most this many
messages in all; beyond that the shard streams its own (`shard_sessions`), to bound memory."""


def of_shard(kept: Iterable[SessionTurns], pending: Collection[WorkKey]) -> list[SessionTurns]:
    """The sessions (read beforehand) that a shard's pending keys name, in corpus order."""
    ids = {key[0] for key in pending}
    return [(s, ts) for s, ts in kept if s.id in ids]


def work_keys(session: Session, config: ReplayConfig,
              session_turns: Sequence[Turn] | None = None) -> Iterator[WorkKey]:
    if config.mode == "prefix":
        return prefix_keys(session, config.samples, session_turns)
    return rollout_keys(session, config.samples)


def build_client(config: ReplayConfig, model: str, accounting: Accounting) -> HttpModelClient:
    """A model client as configured (key from the environment)."""
    limiter = None
    if config.requests_per_minute or config.tokens_per_minute:
        limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
    return make_client(config.api, model, config.base_url, api_key_env=config.api_key_env,
                       timeout=config.timeout,
                       retry=RetryPolicy(max_attempts=config.max_attempts), limiter=limiter,
                       prices=PriceTable.load(config.prices) if config.prices else None,
                       accounting=accounting, max_connections=max(64, config.concurrency),
                       concurrency=config.concurrency)


async def run_shard(config: ReplayConfig, *, shard: str, run_id: str, pending: set[WorkKey],
                    answerer: ToolAnswerer | AnswererFactory, on_done: OnDone | None = None,
                    client_factory: ClientFactory | None = None,
                    sessions: Iterable[SessionTurns] | None = None,
                    deferred: DeferredAnswers | None = None) -> ShardReport:
    """Produce every pending trajectory of this shard; returns what it did.

    `client_factory` builds the model clients (default: `build_client`, an HTTP client as
    configured); any `runtime.model_client.ModelClient` works, e.g. an in-process model.
    `sessions`: the shard's sessions with their turns, when the caller has read them already
    (in corpus order, as `shard_sessions` gives them); by default the shard reads its own.
    `deferred`: a batch round's answers (`replayer.batch`); a trajectory whose next step has
    none yet is set aside unwritten, to be replayed from the start in the next round.
    """
    make = client_factory or build_client
    cpu_start = time.process_time()
    corpus = Corpus(config.corpus)
    accounting = Accounting()
    report = ShardReport(shard=shard)
    client = make(config, config.model, accounting)
    cache = AsyncCache(RunCache(config.cache_path())) if config.cache else None
    tool_answerer = answerer(corpus, config) if callable(answerer) else answerer
    user_client = (make(config, config.user_simulator, accounting)
                   if config.user_simulator else None)
    simulator = (UserSimulator(user_client, config.user_simulator or "", cache)
                 if user_client is not None else None)
    candidate = Candidate(client=client, model=config.model, params=config.params, cache=cache,
                          max_steps=config.max_steps,
                          fail_on_miss=fails_trajectory(config.stub_miss), deferred=deferred)
    writer = TrajectoryWriter(config.out, shard, run_id=run_id)
    queue: asyncio.Queue[tuple[Session, WorkKey, list[Turn]] | None] = \
        asyncio.Queue(config.concurrency * 2)
    workers = min(config.concurrency, max(1, len(pending)))

    def read() -> Iterator[SessionTurns]:
        for session in shard_sessions(corpus, {key[0] for key in pending}):
            yield session, turns(session)  # once per session, shared by its trajectories

    async def produce() -> None:
        remaining = set(pending)
        for session, session_turns in (read() if sessions is None else sessions):
            for key in work_keys(session, config, session_turns):
                if key in remaining:
                    remaining.discard(key)
                    await queue.put((session, key, session_turns))
            if not remaining:
                break
        for _ in range(workers):
            await queue.put(None)

    async def work() -> None:
        while (item := await queue.get()) is not None:
            session, (_sid, turn, sample), session_turns = item
            try:
                if turn is None:
                    traj = await replay_session(candidate, tool_answerer, session, sample,
                                                run_id=run_id, user_simulator=simulator)
                else:
                    traj = await replay_turn(candidate, tool_answerer, session,
                                             session_turns[turn], sample, run_id=run_id)
            except StepDeferred:
                # replayed from the start next round: the stubs must not remember this try
                tool_answerer.forget(trajectory_id(session.id, turn, sample))
                continue
            writer.write(traj.session)
            report.tally.add_counts(turns=traj.turns, tool_calls=traj.tool_calls,
                                    errors=traj.errors, max_steps=traj.max_steps,
                                    provenance=traj.provenance)
            tool_answerer.forget(traj.session.id)  # its per-trajectory state is done with
            report.written += 1
            report.errors += len(traj.errors)
            room = MAX_MISSES - len(report.misses)
            report.misses += traj.misses[:max(0, room)]
            report.simulator_errors += traj.simulator_errors
            accounting.cache_hits += traj.cache_hits
            if on_done is not None:
                on_done(traj, accounting)

    try:
        with replay_collector():
            async with TaskGroup("replay-shard-" + shard) as group:
                group.spawn(produce(), "produce")
                for i in range(workers):
                    group.spawn(work(), f"work-{i}")
    finally:
        writer.close()
        await client.close()
        if user_client is not None:
            await user_client.close()
        if cache is not None:
            cache.close()
        report.accounting = accounting.to_dict()
        report.concurrency = adaptive.summaries()
        report.cpu_s = time.process_time() - cpu_start
        report.stubs = dict(tool_answerer.stats())
        if config.tool_simulator:
            report.stubs["simulator_failures"] = simulator_failures(tool_answerer)
        await release(tool_answerer)  # the tool simulator's connections and cache
    return report

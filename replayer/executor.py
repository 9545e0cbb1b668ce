"""Executors: where the shard loop runs.

- `local`: one shard in this process's event loop (the default). One process keeps a model
  endpoint busy: the work is waiting on the network (docs/scaling.md has the measurement).
- `ray`: the selected sessions are split into shards balanced by pending work; each Ray task
  runs the same async loop on its shard (`runtime.event_loop.run(run_shard(...))`) and writes
  its own cassettes into RUN_DIR, which must be reachable from every worker (a shared path or
  an fsspec URL). Ray is optional: `pip install 'deploysim[ray]'`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from typing import Any

from replayer.clients.accounting import Accounting
from replayer.errors import ReplayConfigError
from replayer.prefix import WorkKey
from replayer.progress import ReplayProgress
from replayer.replay_config import ReplayConfig
from replayer.replayed_trajectory import Trajectory
from replayer.shard import (
    AnswererFactory,
    BatchedProgress,
    ClientFactory,
    SessionTurns,
    ShardReport,
    run_shard,
)
from runtime.event_loop import run as aio_run
from stubs.api import ToolAnswerer

POLL_S = 0.5


async def run_local(config: ReplayConfig, *, run_id: str, pending: set[WorkKey],
                    answerer: ToolAnswerer | AnswererFactory, progress: ReplayProgress,
                    client_factory: ClientFactory | None = None,
                    sessions: Iterable[SessionTurns] | None = None) -> list[ShardReport]:
    """One shard in this process; `sessions`: the pending sessions already read, if any."""
    def done(traj: Trajectory, acc: Accounting) -> None:
        progress.advance(errors=len(traj.errors), tokens=acc.tokens, cost=acc.cost_usd)

    return [await run_shard(config, shard="local", run_id=run_id, pending=pending,
                            answerer=answerer, on_done=done, client_factory=client_factory,
                            sessions=sessions)]


def split(pending: set[WorkKey], shards: int) -> list[set[WorkKey]]:
    """Pending keys grouped by session into `shards` sets of similar size (deterministic)."""
    by_session: dict[str, set[WorkKey]] = {}
    for key in pending:
        by_session.setdefault(key[0], set()).add(key)
    bins: list[set[WorkKey]] = [set() for _ in range(shards)]
    for sid in sorted(by_session, key=lambda s: (-len(by_session[s]), s)):
        min(bins, key=len).update(by_session[sid])
    return [b for b in bins if b]


def shard_config(config: ReplayConfig, n: int) -> ReplayConfig:
    """The configuration of one of `n` shards: in-flight work and client-side rate limits are
    shares of the run's totals."""
    return config.model_copy(update={
        "concurrency": max(1, math.ceil(config.concurrency / n)),
        "requests_per_minute": config.requests_per_minute and config.requests_per_minute / n,
        "tokens_per_minute": config.tokens_per_minute and config.tokens_per_minute / n})


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ReplayConfigError("--executor ray needs Ray; install it with "
                                "`pip install 'deploysim[ray]'`.") from exc
    return ray


def _init_ray(config: ReplayConfig, env: Mapping[str, str]) -> Any:
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": dict(env)} if env else None)
    return ray


async def run_ray(config: ReplayConfig, *, run_id: str, pending: set[WorkKey],
                  answerer: AnswererFactory, progress: ReplayProgress,
                  env: Mapping[str, str] | None = None,
                  client_factory: ClientFactory | None = None) -> list[ShardReport]:
    """Run the shards as Ray tasks; `env` (e.g. the API key variable) is sent to the workers."""
    ray = _init_ray(config, env or {})
    workers = config.ray_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    shards = split(pending, workers)
    if not shards:
        return []
    one_config = shard_config(config, len(shards))

    @ray.remote
    class ProgressActor:
        def __init__(self) -> None:
            self.done = self.errors = self.tokens = 0
            self.cost: dict[str, float] = {}
            self.shard_tokens: dict[str, int] = {}

        def add(self, shard: str, done: int, errors: int, tokens: int, cost: float) -> None:
            self.done += done
            self.errors += errors
            self.shard_tokens[shard] = tokens
            self.cost[shard] = cost

        def get(self) -> tuple[int, int, int, float]:
            return (self.done, self.errors, sum(self.shard_tokens.values()),
                    sum(self.cost.values()))

    @ray.remote(num_cpus=1, max_retries=0)
    def shard_task(cfg: ReplayConfig, shard: str, keys: set[WorkKey], factory: AnswererFactory,
                   tally: Any, clients: ClientFactory | None) -> ShardReport:
        # progress goes to the tally actor in batches: a remote call per trajectory would
        # cost more than the trajectory
        done = BatchedProgress(lambda n, errors, acc: tally.add.remote(
            shard, n, errors, acc.tokens, acc.cost_usd), POLL_S)
        report = aio_run(run_shard(cfg, shard=shard, run_id=run_id, pending=keys,
                                   answerer=factory, on_done=done, client_factory=clients))
        done.flush(Accounting(**report.accounting))
        return report

    tally = ProgressActor.remote()  # type: ignore[attr-defined]
    refs = [shard_task.remote(one_config, f"ray{i:02d}", keys, answerer, tally, client_factory)
            for i, keys in enumerate(shards)]
    remaining = list(refs)
    while remaining:
        _ready, remaining = await asyncio.to_thread(
            ray.wait, remaining, num_returns=len(remaining), timeout=POLL_S)
        done, errors, tokens, cost = await asyncio.to_thread(ray.get, tally.get.remote())
        progress.update(done=done, errors=errors, tokens=tokens, cost=cost)
    reports: list[ShardReport] = await asyncio.to_thread(ray.get, refs)
    return reports

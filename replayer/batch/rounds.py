"""The batch replay: the online loop, run in rounds, its model calls answered by batches.

Each round replays every pending trajectory with the online loop (`replayer.shard.run_shard`),
except that a step the response cache cannot answer is looked up among the answers batches
have returned (`BatchRound.answer`). A trajectory whose every step has an answer finishes and
is written exactly as online; one that reaches a step without one is set aside (its request
joins this round's batch) and replayed from the start next round. So a turn with tool calls
takes one round per step, every trajectory's current step shares one batch, and the
trajectories are the online ones byte for byte: the same loop, the same cache keys, the same
decoded answers (which `ask` caches where an online answer goes).

Between rounds: submit the round's requests (split to the provider's limits), poll with
backoff until every batch has ended, store the answers, note the failures. A request that
failed in a way that may pass (expired, 429, 5xx) is asked again next round, at most
`ATTEMPTS` times; any other failure fails its turn with the reason an online call would have
given. The ledger (`replayer.batch.batch_ledger`) makes all of it survive a restart.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from types import ModuleType
from typing import IO, Any

from recorder.session import Message, ToolDef
from replayer.batch.apis import BatchApi, Outcome, make_batch_api
from replayer.batch.batch_ledger import ANSWERS, BatchEntry, BatchLedger, FailedRequest
from replayer.cache import AsyncCache, RunCache
from replayer.clients import Accounting, PriceTable, make_client
from replayer.errors import (
    BatchApiError,
    MalformedResponse,
    ModelCallError,
    StepDeferred,
)
from replayer.prefix import WorkKey
from replayer.progress import ReplayProgress
from replayer.replay_config import ReplayConfig
from replayer.replayed_trajectory import Trajectory
from replayer.shard import AnswererFactory, ClientFactory, SessionTurns, ShardReport, run_shard
from replayer.wire import CODECS
from stubs.api import ToolAnswerer

ATTEMPTS = 3
"""Batches a request may be in before a failure that may pass (expired, 429, 5xx) is final."""

POLL_S = 30.0
"""First wait between polls (doubling up to MAX_POLL_S); DEPLOYSIM_BATCH_POLL_S overrides."""

MAX_POLL_S = 600.0


def poll_interval(config: ReplayConfig) -> float:
    if config.batch_poll_s is not None:
        return config.batch_poll_s
    raw = os.environ.get("DEPLOYSIM_BATCH_POLL_S")
    try:
        return float(raw) if raw else POLL_S
    except ValueError:
        raise BatchApiError(f"DEPLOYSIM_BATCH_POLL_S={raw!r} is not a number of seconds; "
                            "unset it or give e.g. 30.") from None


class BatchRound:
    """One round's answer source (`replayer.loop.DeferredAnswers`): answers from ended
    batches, failures for good, and the requests still to ask, spooled to a file."""

    def __init__(self, codec: ModuleType, model: str, api: BatchApi, answers: AsyncCache,
                 failed: Mapping[str, FailedRequest], spool: IO[bytes]) -> None:
        self.codec = codec
        self.model = model
        self.api = api
        self.answers = answers
        self.failed = failed
        self.spool = spool
        self.asked: set[str] = set()

    async def answer(self, key: str, conversation: Sequence[Message],
                     tools: Sequence[ToolDef], params: Mapping[str, Any]) -> Message:
        failure = self.failed.get(key)
        if failure is not None:
            raise ModelCallError(failure.message, reason=failure.reason)
        found = await self.answers.get(key)
        if found is not None:
            return found
        if key not in self.asked:  # two trajectories asking the same thing share a request
            self.asked.add(key)
            body = self.codec.encode_request(self.model, conversation, tools, params)
            self.spool.write(self.api.line(key, body) + b"\n")
        raise StepDeferred(key)


def _chunks(lines: Iterable[bytes], most: int, most_bytes: int) -> Iterator[list[bytes]]:
    """Lines grouped into batches of at most `most` lines and `most_bytes` bytes."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and (len(chunk) >= most or size + len(line) > most_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        yield chunk


class BatchReplay:
    """The rounds of one batch replay (see the module docstring)."""

    def __init__(self, config: ReplayConfig, run_id: str, api: BatchApi,
                 prices: PriceTable | None) -> None:
        self.config = config
        self.run_id = run_id
        self.api = api
        self.prices = prices
        self.codec = CODECS[config.api]
        self.ledger = BatchLedger.load(config.out, run_id=run_id, api=config.api)
        self.folder = BatchLedger.folder(config.out)
        self.answers_path = os.path.join(self.folder, ANSWERS)
        self.accounting = Accounting()
        """The batch calls collected by this invocation (at batch prices)."""
        self.poll_s = poll_interval(config)

    # -- between rounds ------------------------------------------------------------------

    async def settle(self) -> None:
        """Poll every batch in flight until it ends and collect every ended one."""
        for entry in self.ledger.unfinished():
            wait = self.poll_s
            while entry.state == "submitted":
                polled = await self.api.poll(entry.id)
                entry.status = polled.status
                if polled.ended:
                    entry.state, entry.ended_at = "ended", time.time()
                    entry.refs.update(polled.refs)
                    self.ledger.save(self.config.out)
                    break
                await asyncio.sleep(wait)
                wait = min(MAX_POLL_S, wait * 2)
            outcomes = await self.api.results(entry.id, entry.refs)
            await asyncio.to_thread(self._collect, entry, outcomes)
            entry.state = "collected"
            self.ledger.save(self.config.out)

    def _collect(self, entry: BatchEntry, outcomes: list[Outcome]) -> None:
        """Store the answers, count the failures (the ledger is saved by the caller, after
        the answers are in: a kill in between collects the batch again, harmlessly)."""
        keys = set(entry.keys)
        answers: list[tuple[str, Message]] = []
        errors: dict[str, ModelCallError] = {}
        for outcome in outcomes:
            if outcome.custom_id not in keys:
                continue
            if outcome.error is not None:
                errors[outcome.custom_id] = outcome.error
                continue
            try:
                message: Message = self.codec.decode_response(outcome.body)
            except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
                errors[outcome.custom_id] = MalformedResponse(
                    f"batch {entry.id} answered with a body that is not a {self.config.api} "
                    f"response ({type(exc).__name__}: {exc})")
                continue
            answers.append((outcome.custom_id, message))
            self.accounting.add(self.config.model, message.usage, self.prices, batch=True)
            self.ledger.attempts.pop(outcome.custom_id, None)
        answered = {k for k, _ in answers}
        for key in keys - answered - set(errors):  # the batch ended without running it
            errors[key] = ModelCallError(f"batch_{entry.status or 'incomplete'}: batch "
                                         f"{entry.id} ended without a result for this request",
                                         reason=f"batch_{entry.status or 'incomplete'}",
                                         retryable=True)
        retried = 0
        for key, error in errors.items():
            n = self.ledger.attempts.get(key, 0) + 1
            self.ledger.attempts[key] = n
            if error.retryable and n < ATTEMPTS:
                retried += 1
                continue
            self.accounting.failures += 1
            self.ledger.failed[key] = FailedRequest(reason=error.reason, message=str(error),
                                                     status=getattr(error, "status", None))
        if answers:
            store = RunCache(self.answers_path)
            try:
                store.put_many(answers)
            finally:
                store.close()
        entry.counts = {"succeeded": len(answers), "retried": retried,
                        "failed": len(errors) - retried}

    async def submit(self, spool_path: str) -> None:
        """Submit a round's spooled requests as one or more batches."""
        with open(spool_path, "rb") as f:
            lines = [line.rstrip(b"\n") for line in f if line.strip()]
        if not lines:
            return
        self.ledger.rounds += 1
        for chunk in _chunks(lines, self.api.max_requests, self.api.max_bytes):
            keys = [self._key_of(line) for line in chunk]
            batch_id, refs = await self.api.submit(chunk)
            self.ledger.batches.append(BatchEntry(id=batch_id, round=self.ledger.rounds,
                                                  keys=keys, submitted_at=time.time(),
                                                  refs=refs))
            self.ledger.save(self.config.out)
        os.remove(spool_path)

    @staticmethod
    def _key_of(line: bytes) -> str:
        # the custom id is the line's first field (written by `line`): no need to parse it
        start = line.index(b'"custom_id":"') + len(b'"custom_id":"')
        return line[start:line.index(b'"', start)].decode()

    # -- the rounds ----------------------------------------------------------------------

    async def run(self, pending: set[WorkKey], answerer: ToolAnswerer | AnswererFactory,
                  progress: ReplayProgress, client_factory: ClientFactory | None,
                  sessions: list[SessionTurns] | None) -> ShardReport:
        total = ShardReport(shard="batch")
        remaining = set(pending)
        written: set[WorkKey] = set()

        def done(traj: Trajectory, acc: Accounting) -> None:
            src = traj.session.source
            written.add((src.source_session or "", src.source_turn, src.sample or 0))
            progress.advance(errors=len(traj.errors), tokens=acc.tokens + self.accounting.tokens,
                             cost=acc.cost_usd + self.accounting.cost_usd)

        os.makedirs(self.folder, exist_ok=True)
        while True:
            await self.settle()
            if not remaining:
                break
            spool_path = os.path.join(self.folder, f"round-{self.ledger.rounds + 1:04d}.jsonl")

            answers = AsyncCache(RunCache(self.answers_path))
            try:
                with open(spool_path, "wb") as spool:
                    source = BatchRound(self.codec, self.config.model, self.api, answers,
                                        self.ledger.failed, spool)
                    shard_sessions = (None if sessions is None else
                                      [st for st in sessions if st[0].id in
                                       {k[0] for k in remaining}])
                    report = await run_shard(self.config, shard="batch", run_id=self.run_id,
                                             pending=remaining, answerer=answerer,
                                             on_done=done, client_factory=client_factory,
                                             sessions=shard_sessions, deferred=source)
            finally:
                answers.close()
            _merge(total, report)
            remaining -= written
            if not remaining:
                os.remove(spool_path)
                break
            if not source.asked:  # cannot happen: a set-aside trajectory asked something
                raise BatchApiError(f"{len(remaining)} trajectories were set aside without a "
                                    "request to batch; this is a deploysim bug, please report "
                                    "it.")
            await self.submit(spool_path)
        acc = Accounting()
        acc.merge(total.accounting)
        acc.merge(asdict(self.accounting))
        total.accounting = acc.to_dict()
        return total


def _merge(total: ShardReport, report: ShardReport) -> None:
    total.written += report.written
    total.errors += report.errors
    total.tally.merge(report.tally)
    total.misses += report.misses[:max(0, 200 - len(total.misses))]
    total.simulator_errors += report.simulator_errors
    total.cpu_s += report.cpu_s
    acc = Accounting()
    acc.merge(total.accounting)
    acc.merge(report.accounting)
    total.accounting = acc.to_dict()
    # the engine's counters run on from round to round: the last round's are the totals
    # (they include the calls of set-aside trajectories, answered again in the next round)
    total.stubs = dict(report.stubs)


async def run_batch(config: ReplayConfig, *, run_id: str, pending: set[WorkKey],
                    answerer: ToolAnswerer | AnswererFactory, progress: ReplayProgress,
                    client_factory: ClientFactory | None = None,
                    sessions: Iterable[SessionTurns] | None = None) -> list[ShardReport]:
    """`deploysim replay --batch`: the pending work in batch rounds, in this process."""
    prices = PriceTable.load(config.prices) if config.prices else None
    # the online client's URL and headers (its key, version header) are the batch API's too
    online = make_client(config.api, config.model, config.base_url,
                         api_key_env=config.api_key_env)
    api = make_batch_api(config.api, online.base_url, online.auth_headers(),
                         max_attempts=config.max_attempts, run_id=run_id)
    await online.close()
    try:
        batch = BatchReplay(config, run_id, api, prices)
        return [await batch.run(pending, answerer, progress, client_factory,
                                list(sessions) if sessions is not None else None)]
    finally:
        await api.close()

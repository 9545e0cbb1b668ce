"""`deploysim grade --judge-batch`: the LLM judge's calls answered by a provider's batch API.

A judge's prompt depends on the trajectory alone, never on an earlier answer, so a batch
grade needs one collecting pass and then the real one:

1. finish what an earlier, interrupted invocation left in flight (poll, collect);
2. grade without writing, with a judge client (`BatchJudgeClient`) that answers what batches
   have answered and spools every other request (`collect`);
3. submit the spooled requests as batches (the replay's `BatchReplay`: split to the
   provider's limits, polled with backoff, answers stored, retryable failures asked again in
   the next pass, at most `rounds.ATTEMPTS` batches);
4. once nothing is left to ask, grade for real: every judge call is answered from the batch
   answers, through the judge's own path (parse, response cache), so the verdicts are the
   ones an online grade with the same answers writes.

The state lives next to the verdict output, in `judge-batch/` (one folder per judge endpoint
and model: `batch/ledger.json` and `batch/answers.sqlite`, as a replay's), so rerunning the
command after a crash submits nothing that was already submitted. Answers are priced at
batch rates (`Accounting.batch_requests`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from typing import IO, Any

from recorder.session import Message, ToolDef
from replayer.batch.apis import BATCH_APIS, make_batch_api
from replayer.batch.batch_ledger import ANSWERS, BatchLedger, FailedRequest
from replayer.batch.rounds import BatchReplay
from replayer.cache import RunCache
from replayer.clients import Accounting, PriceTable
from replayer.clients.http_client import HttpModelClient
from replayer.errors import BatchApiError, ContextLengthExceeded, ModelCallError, ModelHTTPError
from replayer.replay_config import ReplayConfig
from runtime.model_client import ModelClient, request_key

JudgeFactory = Callable[[str, str, str | None], ModelClient]
STATE = "judge-batch"
"""The folder beside the verdict file holding a batch grade's state."""


def failure_error(failure: FailedRequest) -> ModelCallError:
    """The error an online call would have raised (the judge's verdict names its class)."""
    if failure.reason == "context_length":
        return ContextLengthExceeded(failure.message, status=failure.status or 400)
    if failure.status is not None:
        return ModelHTTPError(failure.message, status=failure.status)
    return ModelCallError(failure.message, reason=failure.reason)


class BatchJudgeClient:
    """A judge's model client answered by batches (see the module docstring)."""

    def __init__(self, online: HttpModelClient, folder: str, batches: BatchReplay,
                 collecting: bool) -> None:
        self.online = online
        self.model = online.model
        self.folder = folder
        self.batches = batches
        self.collecting = collecting
        """This pass spools what batches have not answered (else: it grades)."""
        self.asked: set[str] = set()
        self.spool: IO[bytes] | None = None
        self._answers: RunCache | None = None

    @property
    def spool_path(self) -> str:
        return os.path.join(BatchLedger.folder(self.folder), "judge-requests.jsonl")

    def begin(self, collecting: bool) -> None:
        """Start a pass (the grade closes its clients at its end, which ends the pass)."""
        self.end_pass()
        self.collecting = collecting
        self.asked.clear()

    def end_pass(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        if self._answers is not None:
            self._answers.close()
            self._answers = None

    async def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolDef] = (),
                       params: Mapping[str, Any] | None = None) -> Message:
        key = request_key(self.model, messages, tools, params)
        failure = self.batches.ledger.failed.get(key)
        if failure is not None:
            raise failure_error(failure)
        if self._answers is None:
            folder = BatchLedger.folder(self.folder)
            os.makedirs(folder, exist_ok=True)
            self._answers = RunCache(os.path.join(folder, ANSWERS))
        found = self._answers.get(key)
        if found is not None:
            return found
        if not self.collecting:  # cannot happen: the grading pass comes after every answer
            raise ModelCallError(f"no batch answered judge request {key}; rerun the command",
                                 reason="batch_missing")
        if key not in self.asked:  # the same prompt twice is one request
            self.asked.add(key)
            if self.spool is None:
                self.spool = open(self.spool_path, "wb")  # noqa: SIM115 (closed by end_pass)
            body = self.online.codec.encode_request(self.model, messages, tools, params)
            self.spool.write(self.batches.api.line(key, body) + b"\n")
        raise ModelCallError("deferred to a batch", reason="batch_deferred")

    async def close(self) -> None:
        self.end_pass()


class JudgeBatches:
    """Every judge of one batch grade: `factory` for `grader.grading.grade`, and the passes."""

    def __init__(self, verdicts_dir: str, online_factory: JudgeFactory, *,
                 poll_s: float | None = None, prices: str | None = None) -> None:
        self.root = os.path.join(verdicts_dir, STATE)
        self.online_factory = online_factory
        self.poll_s = poll_s
        self.prices = PriceTable.load(prices) if prices else None
        self.clients: dict[tuple[str, str, str | None], BatchJudgeClient] = {}
        self.collecting = True

    def factory(self, api: str, model: str, base_url: str | None) -> ModelClient:
        found = self.clients.get((api, model, base_url))
        if found is not None:  # the same judge in every pass
            return found
        online = self.online_factory(api, model, base_url)
        if not isinstance(online, HttpModelClient) or online.api not in BATCH_APIS:
            raise BatchApiError(f"--judge-batch speaks {', '.join(BATCH_APIS)}; the judge's "
                                f"API {getattr(online, 'api', api)} has no batch API here, so "
                                "grade without --judge-batch.")
        ident = f"{online.api}\0{online.model}\0{online.base_url}"
        folder = os.path.join(self.root, hashlib.sha256(ident.encode()).hexdigest()[:12])
        config = ReplayConfig(corpus=[], out=folder, model=online.model,
                              base_url=online.base_url, api=online.api, batch=True,
                              batch_poll_s=self.poll_s)
        batch_api = make_batch_api(online.api, online.base_url, online.auth_headers(),
                                   run_id="judge")
        client = BatchJudgeClient(online, folder, BatchReplay(config, "judge", batch_api,
                                                              self.prices), self.collecting)
        self.clients[(api, model, base_url)] = client
        return client

    def begin(self, collecting: bool) -> None:
        """Start a collecting pass or the grading one."""
        self.collecting = collecting
        for c in self.clients.values():
            c.begin(collecting)

    def unfinished(self) -> bool:
        return any(c.batches.ledger.unfinished() for c in self.clients.values())

    async def settle(self) -> None:
        """Finish every batch in flight (an earlier invocation's included)."""
        for c in self.clients.values():
            await c.batches.settle()

    async def submit(self) -> bool:
        """Submit the pass's spooled requests; False when there was nothing to ask."""
        asked = False
        for c in self.clients.values():
            c.end_pass()
            if c.asked:
                asked = True
                await c.batches.submit(c.spool_path)
            elif os.path.exists(c.spool_path):
                os.remove(c.spool_path)
        return asked

    def summary(self) -> dict[str, Any]:
        acc = Accounting()
        totals: dict[str, int] = {}
        for c in self.clients.values():
            acc.merge(asdict(c.batches.accounting))
            for k, v in c.batches.ledger.summary().items():
                totals[k] = totals.get(k, 0) + v
        return {**totals, "usage": acc.to_dict()}

    async def close(self) -> None:
        for c in self.clients.values():
            c.end_pass()
            await c.batches.api.close()
            await c.online.close()


async def grade_in_batches[T](batches: JudgeBatches,
                              grade_pass: Callable[[bool], Awaitable[T]]) -> T:
    """Run `grade_pass(write)` with `batches.factory` as its judge factory: collecting passes
    (write=False) until batches have answered or failed every judge request, then the real
    one (write=True). Closes `batches`."""
    try:
        while True:
            batches.begin(collecting=True)
            await grade_pass(False)
            if batches.unfinished():  # an earlier invocation's batches: finish them first,
                await batches.settle()  # then collect again (they may answer this pass's asks)
                continue
            if not await batches.submit():
                break
            await batches.settle()
        batches.begin(collecting=False)
        return await grade_pass(True)
    finally:
        await batches.close()

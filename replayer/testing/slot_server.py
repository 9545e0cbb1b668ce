"""A fake OpenAI-compatible server that serves like llama.cpp's: a few slots, a queue.

llama.cpp's server (`--parallel N`) decodes N requests at once, one per slot; a request that
finds every slot busy waits in its queue (so its latency grows with the queue), or, when the
queue is bounded, is refused with 503 and `Retry-After`. Prompt processing takes time in
proportion to the prompt. `SlotServer` plays that with a scripted policy answering (so the
"model output" is whatever a test scripts: invented tools, broken JSON, empty answers, ...):

    seconds per request = per_request + prompt tokens / prompt_tokens_per_s  (inside a slot)
                          + contention_s * other requests in slots when it starts

The last term is not llama.cpp's: it plays a server with no queue on a busy machine, whose
answers slow down as more requests share its CPU (256 loopback calls of 0.2 s take 0.3-0.6 s
on two busy cores), which an adaptive limit must not read as queueing.

It counts what a test wants to know: the most requests it ever had in its slots and in its
queue, and how many it refused.

>>> with serve_in_thread(policy, server_class=SlotServer, slots=1,
...                      per_request=2.0) as server: ...                    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import Any

from replayer.testing.fake_model import FakeModelServer, Request, Response, StreamResponse, _json
from replayer.testing.script import Policy
from replayer.wire.codec_helpers import estimate_tokens


class SlotServer(FakeModelServer):
    """See the module docstring. `queue`: requests that may wait for a slot (None: any
    number, as llama.cpp by default); beyond it a request gets 503 with `Retry-After:
    retry_after`. `contention_s`: seconds each request takes longer per other request in the
    slots when it starts."""

    def __init__(self, policy: Policy, *, slots: int = 1, per_request: float = 0.0,
                 prompt_tokens_per_s: float | None = None, queue: int | None = None,
                 retry_after: float = 1.0, contention_s: float = 0.0, **kwargs: Any) -> None:
        super().__init__(policy, **kwargs)
        self.slots = slots
        self.per_request = per_request
        self.prompt_tokens_per_s = prompt_tokens_per_s
        self.queue = queue
        self.retry_after = retry_after
        self.contention_s = contention_s
        self._free: asyncio.Semaphore | None = None  # made on the server's own loop
        self.busy = self.waiting = 0
        self.max_busy = self.max_waiting = 0
        self.refused = 0

    async def _route(self, request: Request) -> Response | StreamResponse | None:
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return await super()._route(request)
        if self._free is None:
            self._free = asyncio.Semaphore(self.slots)
        if self.queue is not None and self.busy >= self.slots and self.waiting >= self.queue:
            self.refused += 1
            return _json({"error": {"code": 503, "message": "Loading model / no slot available",
                                    "type": "unavailable_error"}}, 503,
                         {"Retry-After": f"{self.retry_after:g}"})
        queued = self.busy >= self.slots
        self.waiting += queued
        self.max_waiting = max(self.max_waiting, self.waiting)
        async with self._free:
            self.waiting -= queued
            self.busy += 1
            self.max_busy = max(self.max_busy, self.busy)
            try:
                await asyncio.sleep(self._service_s(request.body)
                                    + self.contention_s * (self.busy - 1))
                return await super()._route(request)
            finally:
                self.busy -= 1

    def _service_s(self, body: bytes) -> float:
        seconds = self.per_request
        if self.prompt_tokens_per_s:
            seconds += estimate_tokens(body.decode(errors="replace")) / self.prompt_tokens_per_s
        return seconds

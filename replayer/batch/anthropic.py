"""Anthropic's Message Batches: one request with every message request, polled, results read.

    POST /v1/messages/batches {requests: [{custom_id, params}]}   -> {"id": "msgbatch_..."}
    GET  /v1/messages/batches/{id}   processing_status in_progress | canceling | ended;
                                     request_counts; results_url once ended
    GET  results_url                 JSONL of {custom_id, result: {type: succeeded | errored |
                                     canceled | expired, message | error}}

`params` is the body an online call would POST. Custom ids must match `[a-zA-Z0-9_-]{1,64}`:
a cache key (64 hex digits) does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from replayer.batch.apis import Outcome, Polled
from replayer.batch.http import BatchHttp
from replayer.clients.http_client import http_error
from replayer.errors import ModelCallError
from replayer.wire.codec_helpers import compact, loads

STATUS_OF_ERROR = {"invalid_request_error": 400, "authentication_error": 401,
                   "billing_error": 402, "permission_error": 403, "not_found_error": 404,
                   "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
                   "timeout_error": 504, "overloaded_error": 529}
"""The HTTP status an online call gets for each error type (so a batch error counts under the
reason the same error would have online)."""


class AnthropicBatches:
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def __init__(self, http: BatchHttp, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/v1/messages/batches"

    def line(self, custom_id: str, body: Mapping[str, Any]) -> bytes:
        return compact({"custom_id": custom_id, "params": body}).encode()

    async def submit(self, lines: Sequence[bytes]) -> tuple[str, dict[str, str]]:
        payload = b'{"requests":[' + b",".join(lines) + b"]}"
        created = loads(await self.http.call("POST", self.url, body=payload,
                                             what="creating the message batch"))
        return str(created["id"]), {}

    async def poll(self, batch_id: str) -> Polled:
        data = loads(await self.http.call("GET", f"{self.url}/{batch_id}",
                                          what=f"retrieving message batch {batch_id}"))
        status = str(data.get("processing_status") or "")
        refs = {"results_url": str(data["results_url"])} if data.get("results_url") else {}
        counts = {k: int(v) for k, v in (data.get("request_counts") or {}).items()
                  if isinstance(v, int)}
        return Polled(ended=status == "ended", status=status, refs=refs, counts=counts)

    async def results(self, batch_id: str, refs: Mapping[str, str]) -> list[Outcome]:
        url = refs.get("results_url") or f"{self.url}/{batch_id}/results"
        raw = await self.http.call("GET", url, what=f"downloading the results of {batch_id}")
        return [self._outcome(line) for line in raw.splitlines() if line.strip()]

    def _outcome(self, line: bytes) -> Outcome:
        item = loads(line)
        cid = str(item.get("custom_id", ""))
        result = item.get("result") or {}
        kind = result.get("type")
        if kind == "succeeded":
            return Outcome(cid, body=result.get("message"))
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            status = STATUS_OF_ERROR.get(str(error.get("type")), 500)
            return Outcome(cid, error=http_error(self.base_url + "/v1/messages", status,
                                                 json.dumps({"error": error}).encode()))
        # expired or canceled: never ran, so it may run in a later batch
        return Outcome(cid, error=ModelCallError(
            f"batch_{kind}: the message batch ended before running this request",
            reason=f"batch_{kind}", retryable=True))

    async def close(self) -> None:
        await self.http.close()

"""OpenAI's Batch API: upload a JSONL file, create a batch over it, poll it, read its files.

    POST /v1/files (multipart: purpose=batch, file)          -> {"id": "file-..."}
    POST /v1/batches {input_file_id, endpoint, completion_window: "24h"}  -> {"id": "batch_..."}
    GET  /v1/batches/{id}      status validating | in_progress | finalizing | completed |
                               failed | expired | cancelling | cancelled; output_file_id,
                               error_file_id, request_counts {total, completed, failed}
    GET  /v1/files/{id}/content   JSONL of {custom_id, response: {status_code, body}, error}

Each input line is `{"custom_id", "method": "POST", "url": ENDPOINT, "body"}` with the body an
online call would POST. An expired or cancelled batch still has the results of the requests it
ran; the others come back with an error (`batch_expired`) or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from replayer.batch.apis import Outcome, Polled
from replayer.batch.http import BatchHttp
from replayer.clients.http_client import http_error
from replayer.errors import BatchApiError, ModelCallError
from replayer.wire.codec_helpers import compact, loads

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
"""Statuses after which the batch runs no more requests."""


class OpenAIBatches:
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def __init__(self, http: BatchHttp, base_url: str, endpoint: str, *,
                 run_id: str = "") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.endpoint = endpoint
        self.run_id = run_id

    def line(self, custom_id: str, body: Mapping[str, Any]) -> bytes:
        return compact({"custom_id": custom_id, "method": "POST", "url": self.endpoint,
                        "body": body}).encode()

    async def submit(self, lines: Sequence[bytes]) -> tuple[str, dict[str, str]]:
        data = b"\n".join(lines) + b"\n"

        def form() -> aiohttp.FormData:
            f = aiohttp.FormData()
            f.add_field("purpose", "batch")
            f.add_field("file", data, filename="deploysim-batch.jsonl",
                        content_type="application/jsonl")
            return f

        uploaded = loads(await self.http.call("POST", f"{self.base_url}/files", form=form,
                                              what="uploading the batch input"))
        file_id = str(uploaded["id"])
        body = {"input_file_id": file_id, "endpoint": self.endpoint, "completion_window": "24h",
                "metadata": {"deploysim_run": self.run_id}}
        created = loads(await self.http.call("POST", f"{self.base_url}/batches",
                                             body=compact(body).encode(),
                                             what="creating the batch"))
        return str(created["id"]), {"input_file_id": file_id}

    async def poll(self, batch_id: str) -> Polled:
        data = loads(await self.http.call("GET", f"{self.base_url}/batches/{batch_id}",
                                          what=f"retrieving batch {batch_id}"))
        status = str(data.get("status") or "")
        if status == "failed":  # the input was refused as a whole: nothing will run
            errors = [e.get("message", "") for e in (data.get("errors") or {}).get("data") or []]
            raise BatchApiError(f"OpenAI refused batch {batch_id} ({'; '.join(errors) or 'no '
                                'reason given'}); fix the cause, then rerun the same command.")
        refs = {k: str(data[k]) for k in ("output_file_id", "error_file_id") if data.get(k)}
        counts = {k: int(v) for k, v in (data.get("request_counts") or {}).items()
                  if isinstance(v, int)}
        return Polled(ended=status in ENDED, status=status, refs=refs, counts=counts)

    async def results(self, batch_id: str, refs: Mapping[str, str]) -> list[Outcome]:
        out: list[Outcome] = []
        for name in ("output_file_id", "error_file_id"):
            if not refs.get(name):
                continue
            url = f"{self.base_url}/files/{refs[name]}/content"
            raw = await self.http.call("GET", url, what=f"downloading the results of {batch_id}")
            out += [self._outcome(line) for line in raw.splitlines() if line.strip()]
        return out

    def _outcome(self, line: bytes) -> Outcome:
        item = loads(line)
        cid = str(item.get("custom_id", ""))
        response = item.get("response") or {}
        error = item.get("error")
        status = int(response.get("status_code") or 0)
        if response and status < 400 and not error:
            return Outcome(cid, body=response.get("body"))
        url = self.base_url + self.endpoint.removeprefix("/v1")
        if response and status >= 400:
            return Outcome(cid, error=http_error(url, status, json.dumps(response.get("body"))
                                                 .encode()))
        code = str((error or {}).get("code") or "batch_error")
        message = str((error or {}).get("message") or "the batch did not run this request")
        # a request the batch never ran (expired, cancelled) may run in a later one
        return Outcome(cid, error=ModelCallError(f"{code}: {message}", reason=code,
                                                 retryable=True))

    async def close(self) -> None:
        await self.http.close()

"""A fake batch server: OpenAI's Batch API and Anthropic's Message Batches, answered by the
fake model's policy — a simulation, not a model.

It is a `FakeModelServer` (so the online endpoints answer too, with the very same replies)
plus the batch endpoints, as the official SDKs call them:

    POST /v1/files (multipart purpose=batch, file)     GET /v1/files/{id}[/content]
    POST /v1/batches                                   GET /v1/batches/{id}
    POST /v1/messages/batches                          GET /v1/messages/batches/{id}[/results]

Each batched request is answered exactly as the same request sent online would be (the body
is re-encoded to the bytes an online client sends, which the fake model's ids derive from).
Knobs: `delay` (seconds before a batch ends), `errors` (which requests fail, and how),
`expire` (which batches expire, running only the first half of their requests). `submissions`
counts the batches created, `polls` the retrievals.

>>> with serve_batches_in_thread(RuleAgent(), delay=0.2) as server:      # doctest: +SKIP
...     client = openai.OpenAI(base_url=server.openai_url, api_key="sim")
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from replayer.testing.fake_model import (
    FakeModelServer,
    Request,
    Response,
    StreamResponse,
    _error,
    _json,
)
from replayer.testing.fake_model_runner import serve_in_thread
from replayer.testing.script import Api, ErrorKind, Policy, ScriptedError
from replayer.wire.codec_helpers import compact, loads

ErrorRule = Callable[[int, str], ErrorKind | None]
"""(batch number from 0, custom id) -> the error that request gets inside the batch, or None."""

_ENDPOINTS = {"/v1/chat/completions": "openai-chat", "/v1/responses": "openai-responses"}


@dataclass
class FakeBatch:
    """A batch as the server keeps it."""

    id: str
    api: str
    """openai-chat | openai-responses | anthropic."""
    number: int
    created: float
    requests: list[tuple[str, bytes]]
    """(custom id, the request body's bytes as an online client would send them)."""
    input_file_id: str | None = None
    endpoint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    results: list[dict[str, Any]] | None = None
    """(custom id, status code, body or None) once ended, per request run."""
    expired: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace(
        "+00:00", "Z")


class FakeBatchServer(FakeModelServer):
    """See the module docstring."""

    def __init__(self, policy: Policy, *, delay: float = 0.0, errors: ErrorRule | None = None,
                 expire: Callable[[int], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(policy, **kwargs)
        self.delay = delay
        self.errors = errors
        self.expire = expire
        self.files: dict[str, tuple[str, bytes, str]] = {}
        """id -> (filename, content, purpose)."""
        self.batches: dict[str, FakeBatch] = {}
        self.submissions: list[FakeBatch] = []
        self.polls = 0
        self._ids = 0
        self._batch_lock = threading.Lock()

    def _next_id(self, prefix: str) -> str:
        with self._batch_lock:
            self._ids += 1
            return f"{prefix}{self._ids:06d}"

    # -- routing ---------------------------------------------------------------------------

    async def _route(self, request: Request) -> Response | StreamResponse | None:
        path, method = request.path, request.method
        try:
            if path == "/v1/files" and method == "POST":
                return self._upload(request)
            if m := re.fullmatch(r"/v1/files/([\w-]+)(/content)?", path):
                return self._file(m.group(1), bool(m.group(2)))
            if path == "/v1/batches" and method == "POST":
                return self._create_openai(request)
            if (m := re.fullmatch(r"/v1/batches/([\w-]+)", path)) and method == "GET":
                return await self._retrieve(m.group(1), "openai")
            if path == "/v1/messages/batches" and method == "POST":
                return self._create_anthropic(request)
            if m := re.fullmatch(r"/v1/messages/batches/([\w-]+)(/results)?", path):
                if m.group(2):
                    return await self._anthropic_results(m.group(1))
                return await self._retrieve(m.group(1), "anthropic")
        except _Refused as exc:
            return exc.response
        return await super()._route(request)

    # -- OpenAI ----------------------------------------------------------------------------

    def _upload(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + request.body)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = (part.get_filename(), payload)
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if "file" not in fields or purpose != "batch":
            raise _Refused(_openai_error(400, "upload a `file` with purpose `batch`"))
        filename, content = fields["file"]
        fid = self._next_id("file-sim")
        self.files[fid] = (filename or "upload.jsonl", content, purpose)
        return _json(self._file_object(fid))

    def _file_object(self, fid: str) -> dict[str, Any]:
        name, content, purpose = self.files[fid]
        return {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed",
                "expires_at": None, "status_details": None}

    def _file(self, fid: str, content: bool) -> Response:
        if fid not in self.files:
            raise _Refused(_openai_error(404, f"No such File object: {fid}"))
        if content:
            return Response(200, self.files[fid][1], "application/octet-stream")
        return _json(self._file_object(fid))

    def _create_openai(self, request: Request) -> Response:
        body = loads(request.body)
        fid, endpoint = body.get("input_file_id"), body.get("endpoint")
        if fid not in self.files:
            raise _Refused(_openai_error(400, f"input_file_id {fid!r} is not an uploaded file"))
        if endpoint not in _ENDPOINTS or body.get("completion_window") != "24h":
            raise _Refused(_openai_error(400, "endpoint must be /v1/chat/completions or "
                                         "/v1/responses and completion_window 24h"))
        requests = []
        for raw in self.files[fid][1].splitlines():
            if not raw.strip():
                continue
            line = loads(raw)
            if line.get("method") != "POST" or line.get("url") != endpoint:
                raise _Refused(_openai_error(400, f"line {line.get('custom_id')}: method POST "
                                             f"and url {endpoint} expected"))
            requests.append((str(line["custom_id"]), compact(line["body"]).encode()))
        batch = self._add(_ENDPOINTS[endpoint], requests, request.headers, "batch_sim")
        batch.input_file_id, batch.endpoint = fid, endpoint
        return _json(self._openai_object(batch))

    def _openai_object(self, b: FakeBatch) -> dict[str, Any]:
        ended = b.results is not None
        status = ("expired" if b.expired else "completed") if ended else "in_progress"
        done = sum(1 for r in b.results or [] if r["status"] == 200)
        end_t = int(b.created + self.delay)
        return {"id": b.id, "object": "batch", "endpoint": b.endpoint, "errors": None,
                "input_file_id": b.input_file_id, "completion_window": "24h",
                "status": status, "output_file_id": b.output_file_id,
                "error_file_id": b.error_file_id, "created_at": int(b.created),
                "in_progress_at": int(b.created), "expires_at": int(b.created) + 86400,
                "finalizing_at": end_t if ended else None,
                "completed_at": end_t if ended and not b.expired else None,
                "failed_at": None, "expired_at": end_t if b.expired else None,
                "cancelling_at": None, "cancelled_at": None,
                "request_counts": {"total": len(b.requests), "completed": done,
                                   "failed": len(b.requests) - done if ended else 0},
                "metadata": None}

    # -- Anthropic -------------------------------------------------------------------------

    def _create_anthropic(self, request: Request) -> Response:
        body = loads(request.body)
        requests = [(str(r["custom_id"]), compact(r["params"]).encode())
                    for r in body.get("requests") or []]
        if not requests or any(not re.fullmatch(r"[\w-]{1,64}", cid) for cid, _ in requests):
            raise _Refused(_error("anthropic", ScriptedError(
                "bad_request", message="requests: give 1+ requests, custom_id [a-zA-Z0-9_-]"
                "{1,64}")))
        return _json(self._anthropic_object(self._add("anthropic", requests, request.headers,
                                                      "msgbatch_sim")))

    def _anthropic_object(self, b: FakeBatch) -> dict[str, Any]:
        ended = b.results is not None
        counts = {"processing": 0 if ended else len(b.requests), "succeeded": 0, "errored": 0,
                  "canceled": 0, "expired": 0}
        for r in b.results or []:
            counts[r["type"]] += 1
        if ended:
            counts["expired"] += len(b.requests) - len(b.results or [])
        return {"id": b.id, "type": "message_batch",
                "processing_status": "ended" if ended else "in_progress",
                "request_counts": counts, "created_at": _iso(b.created),
                "expires_at": _iso(b.created + 86400),
                "ended_at": _iso(b.created + self.delay) if ended else None,
                "cancel_initiated_at": None, "archived_at": None,
                "results_url": f"{self.url}/v1/messages/batches/{b.id}/results" if ended else None}

    async def _anthropic_results(self, bid: str) -> Response:
        b = self._batch(bid)
        if b.results is None:
            raise _Refused(_error("anthropic", ScriptedError(
                "bad_request", message=f"batch {bid} has not ended")))
        lines = []
        for r in b.results:
            result: dict[str, Any] = {"type": r["type"]}
            if r["type"] == "succeeded":
                result["message"] = r["body"]
            elif r["type"] == "errored":
                result["error"] = r["body"]
            lines.append({"custom_id": r["custom_id"], "result": result})
        ran = {r["custom_id"] for r in b.results}
        lines += [{"custom_id": cid, "result": {"type": "expired"}}
                  for cid, _ in b.requests if cid not in ran]
        return Response(200, b"".join(orjson.dumps(x) + b"\n" for x in lines),
                        "application/binary")

    # -- both ------------------------------------------------------------------------------

    def _add(self, api: str, requests: list[tuple[str, bytes]], headers: dict[str, str],
             prefix: str) -> FakeBatch:
        batch = FakeBatch(id=self._next_id(prefix), api=api, number=len(self.submissions),
                          created=time.time(), requests=requests, headers=dict(headers))
        self.batches[batch.id] = batch
        self.submissions.append(batch)
        return batch

    def _batch(self, bid: str) -> FakeBatch:
        if bid not in self.batches:
            api: Api = "anthropic" if bid.startswith("msgbatch") else "openai-chat"
            raise _Refused(_error(api, ScriptedError("bad_request", status=404,
                                                     message=f"no batch {bid}")))
        return self.batches[bid]

    async def _retrieve(self, bid: str, kind: str) -> Response:
        b = self._batch(bid)
        self.polls += 1
        if b.results is None and time.time() - b.created >= self.delay:
            await self._run(b)
        return _json(self._anthropic_object(b) if kind == "anthropic" else self._openai_object(b))

    async def _run(self, b: FakeBatch) -> None:
        """Answer the batch's requests as the online endpoints would (once)."""
        b.expired = bool(self.expire and self.expire(b.number))
        todo = b.requests[: len(b.requests) // 2] if b.expired else b.requests
        path = "/v1/messages" if b.api == "anthropic" else b.endpoint or ""
        results: list[dict[str, Any]] = []
        for cid, body in todo:
            kind = self.errors(b.number, cid) if self.errors else None
            if kind is not None:
                wire: Api = "anthropic" if b.api == "anthropic" else "openai-chat"
                answer: Response | StreamResponse | None = _error(
                    wire, ScriptedError(kind, message=f"{kind} inside batch {b.id}"))
            else:
                answer = await super()._route(Request("POST", path, "", b.headers, body,
                                                      lambda: None))
            status, data = ((answer.status, loads(answer.body)) if isinstance(answer, Response)
                            else (500, {"error": {"message": "the model dropped the request",
                                                  "type": "server_error"}}))
            results.append({"custom_id": cid, "status": status, "body": data,
                            "type": "succeeded" if status == 200 else "errored"})
        if b.api != "anthropic":
            out = [self._openai_line(b, r) for r in results if r["status"] == 200]
            err = [self._openai_line(b, r) for r in results if r["status"] != 200]
            ran = {r["custom_id"] for r in results}
            err += [orjson.dumps({"id": self._next_id("batch_req_sim"), "custom_id": cid,
                                  "response": None,
                                  "error": {"code": "batch_expired",
                                            "message": "This request could not be executed "
                                                       "before the completion window "
                                                       "expired."}})
                    for cid, _ in b.requests if cid not in ran]
            b.output_file_id = self._store(b, out, "output") if out else None
            b.error_file_id = self._store(b, err, "error") if err else None
        b.results = results

    def _openai_line(self, b: FakeBatch, r: dict[str, Any]) -> bytes:
        rid = self._next_id("batch_req_sim")
        return orjson.dumps({"id": rid, "custom_id": r["custom_id"],
                             "response": {"status_code": r["status"], "request_id": rid,
                                          "body": r["body"]}, "error": None})

    def _store(self, b: FakeBatch, lines: list[bytes], kind: str) -> str:
        fid = self._next_id("file-sim")
        self.files[fid] = (f"{b.id}_{kind}.jsonl", b"".join(x + b"\n" for x in lines),
                           "batch_output")
        return fid


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _openai_error(status: int, message: str) -> Response:
    return _json({"error": {"message": message, "type": "invalid_request_error",
                            "param": None, "code": None}}, status)


@contextlib.contextmanager
def serve_batches_in_thread(policy: Policy, **kwargs: Any) -> Iterator[FakeBatchServer]:
    """A FakeBatchServer on its own event loop in a daemon thread (for synchronous tests)."""
    with serve_in_thread(policy, server_class=FakeBatchServer, **kwargs) as server:
        assert isinstance(server, FakeBatchServer)
        yield server

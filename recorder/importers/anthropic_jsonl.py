"""`anthropic-jsonl`: Anthropic Messages API calls, one per line → threaded sessions.

Two line shapes:
- a logged pair `{"request": {...Messages request...}, "response": {...message...}}`, with
  optional `session_id`, `metadata` (scalar entries become labels) and `timestamp`;
- the Message Batches files: a request line `{"custom_id", "params": {...}}` and a result line
  `{"custom_id", "result": {"type": "succeeded", "message": {...}}}` (or `errored`,
  `canceled`, `expired`), paired by `custom_id`, in one file in any order.
The recorder's own Anthropic parser reads both halves, so `system`, `tools`, `tool_use` /
`tool_result`, thinking and usage map exactly as for recorded traffic; calls are threaded by
conversation prefix (or grouped by `session_id`).
"""

from __future__ import annotations

import os
from typing import Any

from recorder.importers import ImportResult
from recorder.importers.trace_helpers import Calls, as_obj, json_records, scalar_labels, timestamp
from recorder.protocols import anthropic_messages
from recorder.protocols.parsed import LlmCall

WHAT = "one Anthropic request/response pair or Message Batches line per line"
_GROUP_KEYS = ("session_id", "conversation_id", "thread_id")


def _group(line: dict[str, Any]) -> str | None:
    meta = as_obj(line.get("metadata"))
    for key in _GROUP_KEYS:
        for source in (line, meta):
            if isinstance(source.get(key), str) and source[key]:
                return str(source[key])
    return None


def call_of(request: dict[str, Any], response: Any) -> LlmCall:
    """An Anthropic request and its response (a message, an error object, or None)."""
    call = anthropic_messages.request_call(request)
    if isinstance(response, dict) and response.get("type") == "error":
        err = response.get("error") or {}
        call.error = str(err.get("message") or err.get("type") or "error") \
            if isinstance(err, dict) else str(err)
    elif isinstance(response, dict) and isinstance(response.get("content"), list):
        call.outputs = anthropic_messages.output_messages(response, "")
        call.response_id = response.get("id")
        call.native = response
    return call


def _batch_response(result: Any) -> tuple[Any, str | None]:
    """(the response, or an error object) of a batch `result`, and why it has none."""
    if not isinstance(result, dict):
        return None, "a batch result that is not an object"
    kind = result.get("type")
    if kind == "succeeded":
        return result.get("message"), None
    if kind == "errored":
        err = result.get("error") or {}
        inner = err.get("error", err) if isinstance(err, dict) else {}
        return {"type": "error", "error": inner}, None
    return {"type": "error", "error": {"message": f"batch request {kind}"}}, None


def import_anthropic_jsonl(path: str) -> ImportResult:
    """Sessions from Anthropic request/response or Message Batches JSONL."""
    result = ImportResult()
    calls = Calls("anthropic-jsonl")
    stem = os.path.basename(path)
    batch_requests: dict[str, tuple[str, dict[str, Any]]] = {}
    batch_results: dict[str, tuple[str, Any]] = {}
    for where, line in json_records(path, WHAT):
        if not isinstance(line, dict):
            result.unmapped_item("line that is not a JSON object", where)
            continue
        if isinstance(line.get("request"), dict):
            calls.add(f"{stem}:{where}", call_of(line["request"], line.get("response")),
                      started=timestamp(line.get("timestamp") or line.get("created_at")),
                      ended=None, group=_group(line), labels=scalar_labels(line.get("metadata")))
            continue
        cid = line.get("custom_id")
        if isinstance(cid, str) and ("params" in line or "result" in line):
            if isinstance(line.get("params"), dict):
                batch_requests[cid] = (where, line["params"])
            if "result" in line:
                batch_results[cid] = (where, line["result"])
            continue
        result.unmapped_item("line with neither `request` nor a batch `custom_id`", where)
    for cid, (where, params) in batch_requests.items():
        response, why = _batch_response(batch_results.get(cid, (where, None))[1]) \
            if cid in batch_results else (None, None)
        if why:
            result.unmapped_item(why, batch_results[cid][0])
        if cid not in batch_results:
            result.unmapped_item("batch request without its result (the conversation is "
                                 "kept, unanswered)", where)
        calls.add(f"{stem}:{cid}", call_of(params, response), started=None, ended=None,
                  group=None, labels={"custom_id": cid})
    for cid, (where, _) in batch_results.items():
        if cid not in batch_requests:
            result.unmapped_item("batch result without its request (its answer has no "
                                 "conversation to belong to)", where)
    result.sessions = calls.sessions(result)
    return result

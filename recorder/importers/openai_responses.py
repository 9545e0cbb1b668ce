"""`openai-responses`: stored OpenAI Responses, chained by `previous_response_id` → sessions.

Each line (or each element of a JSON array, or of a list object's `data`) is one of:
- a stored response object (`GET /v1/responses/{id}`: `id`, `created_at`, `model`,
  `instructions`, `tools`, `output`, `usage`, `previous_response_id`, `metadata`, sampling
  parameters) with the request's input items under `input` or `input_items` (a list, or the
  `{"object": "list", "data": [...]}` that `GET /v1/responses/{id}/input_items?order=asc`
  returns);
- a logged pair `{"request": {...}, "response": {...}}`.
The recorder's Responses parser reads both halves; a response continuing another is threaded
onto its chain exactly as recorded traffic is, so a conversation spread over many stored
responses becomes one session. `metadata.session_id` (or `conversation.id`) groups explicitly.
"""

from __future__ import annotations

import os
from typing import Any

from recorder.importers import ImportResult
from recorder.importers.trace_helpers import Calls, as_obj, json_items, scalar_labels, timestamp
from recorder.protocols import openai_responses
from recorder.protocols.parsed import LlmCall

WHAT = "one stored Responses API response (with its input items) per line"
_REQUEST_FIELDS = ("model", "instructions", "tools", "tool_choice", "temperature", "top_p",
                   "max_output_tokens", "reasoning", "text", "parallel_tool_calls",
                   "previous_response_id", "truncation", "store", "metadata")


def _input_items(obj: dict[str, Any]) -> Any:
    items = obj.get("input", obj.get("input_items"))
    if isinstance(items, dict) and isinstance(items.get("data"), list):
        return items["data"]
    return items


def call_of(request: dict[str, Any], response: dict[str, Any] | None) -> LlmCall:
    call = openai_responses.request_call(request)
    if response is not None:
        if response.get("error"):
            err = response["error"]
            call.error = str(err.get("message") if isinstance(err, dict) else err)
        if response.get("output"):
            call.outputs = openai_responses.output_messages(response, "")
        call.response_id = response.get("id") if isinstance(response.get("id"), str) else None
        call.native = response
    return call


def _group(obj: dict[str, Any]) -> str | None:
    meta = as_obj(obj.get("metadata"))
    for key in ("session_id", "conversation_id", "thread_id"):
        if isinstance(meta.get(key), str) and meta[key]:
            return str(meta[key])
    conv = obj.get("conversation")
    if isinstance(conv, dict) and isinstance(conv.get("id"), str):
        return str(conv["id"])
    return conv if isinstance(conv, str) and conv else None


def import_openai_responses(path: str) -> ImportResult:
    """Sessions from stored Responses API objects."""
    result = ImportResult()
    calls = Calls("openai-responses")
    stem = os.path.basename(path)
    instructions: dict[str, Any] = {}
    for where, obj in json_items(path, WHAT, "data", kind="list"):  # objects, or list pages
        if not isinstance(obj, dict):
            result.unmapped_item("entry that is not a JSON object", where)
            continue
        if isinstance(obj.get("request"), dict):
            request = obj["request"]
            response = obj.get("response") if isinstance(obj.get("response"), dict) else None
        elif obj.get("object") == "response" or "output" in obj:
            response = obj
            request = {k: obj[k] for k in _REQUEST_FIELDS if obj.get(k) is not None}
            items = _input_items(obj)
            if items is None:
                result.unmapped_item("response stored without its input items (only the "
                                     "answer is kept)", where)
                items = []
            request["input"] = items
        else:
            result.unmapped_item("entry that is neither a response object nor a "
                                 "request/response pair", where)
            continue
        prev = request.get("previous_response_id")
        if prev in instructions and request.get("instructions") == instructions[prev]:
            # re-sent with every request of a chain; the chain already holds it once
            request = {k: v for k, v in request.items() if k != "instructions"}
        if response is not None and isinstance(response.get("id"), str):
            instructions[response["id"]] = (obj.get("request") or obj).get("instructions")
        call = call_of(request, response)
        ref = (response or {}).get("id") or where
        labels = scalar_labels(request.get("metadata") or (response or {}).get("metadata"))
        calls.add(f"{stem}:{ref}", call, started=timestamp((response or {}).get("created_at")),
                  ended=timestamp((response or {}).get("completed_at")),
                  group=_group(response or {}) or _group(request), labels=labels)
    result.sessions = calls.sessions(result)
    return result

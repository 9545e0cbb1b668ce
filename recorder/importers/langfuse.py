"""`langfuse`: Langfuse exports → sessions.

Reads what Langfuse hands out: observations JSONL (one observation per line, from the UI or
blob-storage export), the public API's JSON (`GET /api/public/traces/{id}`: a trace with its
`observations` and `scores`; list pages `{"data": [...], "meta": {...}}` of traces or
observations), or a JSON array of either; fields in camelCase or snake_case.
- `GENERATION` observations are model calls: `input` (a message list in any common dialect, or
  `{"messages": [...], "tools": [...]}`), `output`, `model`, `modelParameters`, `usage` /
  `usageDetails`, `startTime` / `endTime`, `level: ERROR` + `statusMessage` for a failed call.
- `TOOL` observations give the matching tool result its latency and error flag.
- `SPAN`, `AGENT`, `CHAIN` observations are structure (their content is the generations').
- Other observation types (`EVENT`, `RETRIEVER`, `EMBEDDING`, ...) are counted as unmapped.
Calls are grouped by the trace's `sessionId` (else by trace) and threaded; the trace's
`userId`, `tags` and scalar `metadata` become labels; scores become label annotations.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

from recorder.annotation import Annotation
from recorder.importers import ImportResult
from recorder.importers.chat_messages import conversation, text_of
from recorder.importers.trace_helpers import (
    Calls,
    as_obj,
    json_items,
    scalar_labels,
    timestamp,
    tool_defs,
)
from recorder.protocols import anthropic_messages, openai_chat
from recorder.protocols.light import LMessage, LPart
from recorder.protocols.parsed import LlmCall

WHAT = "Langfuse observations (one per line) or the public API's trace JSON"
_STRUCTURE = {"SPAN", "AGENT", "CHAIN"}
_USAGE_NAMES = {"input": "input_tokens", "output": "output_tokens", "total": "total_tokens",
                "promptTokens": "input_tokens", "completionTokens": "output_tokens",
                "totalTokens": "total_tokens"}


def get(obj: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase name, or the snake_case one exports also use."""
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


def _kind(obj: dict[str, Any]) -> str:
    if isinstance(obj.get("observations"), list) or (
            "type" not in obj and ("sessionId" in obj or "session_id" in obj)):
        return "trace"
    if isinstance(obj.get("type"), str) and get(obj, "traceId") is not None:
        return "observation"
    if ("name" in obj and "value" in obj) or "dataType" in obj or "data_type" in obj:
        return "score"
    return "?"


def _entries(path: str) -> Iterator[tuple[str, dict[str, Any] | None]]:
    for where, item in json_items(path, WHAT, "data"):
        yield where, item if isinstance(item, dict) else None


def _usage(obs: dict[str, Any]) -> dict[str, int]:
    raw = get(obs, "usageDetails") or get(obs, "usage") or {}
    out: dict[str, int] = {}
    for k, v in raw.items() if isinstance(raw, dict) else []:
        if isinstance(v, int | float) and not isinstance(v, bool) and not k.endswith("Cost"):
            out.setdefault(_USAGE_NAMES.get(str(k), str(k)), int(v))
    return out


def _inputs(value: Any, call: LlmCall, unmapped: Any) -> None:
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        call.messages = conversation(value["messages"], unmapped)
        call.tools = tool_defs(value.get("tools") or value.get("functions"))
        if isinstance(value.get("system"), str | list):  # an Anthropic-shaped request
            parts = anthropic_messages._text_of(value["system"])[0]
            call.messages.insert(0, LMessage(role="system", content=parts))
    elif isinstance(value, list | str):
        call.messages = conversation(value, unmapped)
    elif value is not None:
        unmapped("GENERATION input that is not a message list (kept as the user's text)")
        call.messages = [LMessage(role="user", content=[LPart(text=text_of(value))])]


def outputs(value: Any, unmapped: Any) -> list[LMessage]:
    """The answer of a model call, as logged (a string, a message, a completion object)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [LMessage(role="assistant", content=[LPart(text=value)])] if value else []
    if isinstance(value, dict) and isinstance(value.get("choices"), list):
        return openai_chat.output_messages(value, "")[:1]
    if isinstance(value, dict) and value.get("type") == "message":
        return anthropic_messages.output_messages(value, "")
    if isinstance(value, dict) and ("role" in value or "tool_calls" in value
                                    or "lc" in value or "type" in value):
        msgs = conversation([{"role": "assistant", **value} if "role" not in value
                             and "lc" not in value and "type" not in value else value],
                            unmapped)
        return [m for m in msgs if m.role == "assistant"][-1:]
    if isinstance(value, list):
        return [m for m in conversation(value, unmapped) if m.role == "assistant"][-1:]
    if isinstance(value, dict):
        for key in ("completion", "text", "content", "output"):
            if isinstance(value.get(key), str):
                return [LMessage(role="assistant", content=[LPart(text=value[key])])]
    unmapped("model output of an unknown shape (kept as the assistant's text)")
    return [LMessage(role="assistant", content=[LPart(text=text_of(value))])]


class _Traces:
    """What the traces in the file say about their observations' sessions and labels."""

    def __init__(self) -> None:
        self.group: dict[str, str] = {}
        self.labels: dict[str, dict[str, str]] = {}

    def add(self, trace: dict[str, Any]) -> None:
        tid = str(trace.get("id"))
        session = get(trace, "sessionId")
        self.group[tid] = str(session) if session else tid
        labels = scalar_labels(trace.get("metadata"))
        if get(trace, "userId"):
            labels["user_id"] = str(get(trace, "userId"))
        if isinstance(trace.get("tags"), list) and trace["tags"]:
            labels["tags"] = ",".join(str(t) for t in trace["tags"])
        if trace.get("environment"):
            labels.setdefault("environment", str(trace["environment"]))
        self.labels[tid] = labels


def import_langfuse(path: str) -> ImportResult:
    """Sessions from a Langfuse observations or traces export."""
    result = ImportResult()
    traces = _Traces()
    observations: list[tuple[str, dict[str, Any]]] = []
    scores: list[tuple[str, dict[str, Any]]] = []
    for where, obj in _entries(path):
        kind = _kind(obj) if obj is not None else "?"
        if obj is None or kind == "?":
            result.unmapped_item("entry that is not a Langfuse trace, observation or score",
                                 where)
        elif kind == "trace":
            traces.add(obj)
            observations.extend((f"{where} observation {i}", o)
                                for i, o in enumerate(obj.get("observations") or [])
                                if isinstance(o, dict))
            scores.extend((where, s) for s in obj.get("scores") or [] if isinstance(s, dict))
        elif kind == "observation":
            observations.append((where, obj))
        else:
            scores.append((where, obj))
    calls = Calls("langfuse")
    stem = os.path.basename(path)
    for where, obs in observations:
        trace_id = str(get(obs, "traceId") or "")
        group = traces.group.get(trace_id, trace_id or None)
        kind = str(obs.get("type") or "").upper()
        started, ended = timestamp(get(obs, "startTime")), timestamp(get(obs, "endTime"))
        failed = str(obs.get("level") or "").upper() == "ERROR"
        if kind == "GENERATION":
            _generation(obs, where, stem, group, traces.labels.get(trace_id, {}), calls,
                        result)
        elif kind == "TOOL":
            meta = as_obj(obs.get("metadata"))
            call_id = meta.get("tool_call_id") or meta.get("toolCallId")
            calls.add_tool(str(obs.get("name") or ""), group=group, started=started,
                           ended=ended, is_error=failed, call_id=call_id, where=where)
        elif kind not in _STRUCTURE:
            result.unmapped_item(f"{kind or 'untyped'} observation", where)
    result.sessions = calls.sessions(result)
    result.annotations = [_score(s, traces) for _, s in scores]
    return result


def _generation(obs: dict[str, Any], where: str, stem: str, group: str | None,
                labels: dict[str, str], calls: Calls, result: ImportResult) -> None:
    def unmapped(what: str) -> None:
        result.unmapped_item(what, where)

    model = obs.get("model") or get(obs, "providedModelName")
    params = get(obs, "modelParameters")
    call = LlmCall(api="langfuse", model=str(model) if model else None, messages=[],
                   params={**({"model": model} if model else {}),
                           **(params if isinstance(params, dict) else {})})
    _inputs(obs.get("input"), call, unmapped)
    call.outputs = outputs(obs.get("output"), unmapped)
    usage = _usage(obs)
    if call.outputs and usage:
        call.outputs[0].usage = usage
    if not call.outputs:
        status = get(obs, "statusMessage")
        call.error = str(status or "no output was logged")
    meta = obs.get("metadata")
    if isinstance(meta, dict) and not call.tools:
        call.tools = tool_defs(meta.get("tools"))
    if not call.messages and not call.outputs:
        unmapped("GENERATION observation with neither input nor output")
        return
    all_labels = {**labels, **({"model": str(model)} if model else {})}
    calls.add(f"{stem}:{obs.get('id') or where}", call,
              started=timestamp(get(obs, "startTime")), ended=timestamp(get(obs, "endTime")),
              group=group, labels=all_labels)


def _score(score: dict[str, Any], traces: _Traces) -> Annotation:
    trace_id = str(get(score, "traceId") or "")
    value = score.get("value")
    if get(score, "stringValue") is not None:
        value = get(score, "stringValue")
    data = {k: v for k, v in {
        "comment": score.get("comment"), "source": score.get("source"),
        "data_type": get(score, "dataType"), "trace_id": trace_id or None,
        "observation_id": get(score, "observationId")}.items() if v is not None}
    sid = score.get("id") or hashlib.sha256(json.dumps(score, sort_keys=True, default=str)
                                            .encode()).hexdigest()[:24]
    return Annotation(id=f"langfuse-{sid}", session_id=traces.group.get(trace_id, trace_id),
                      type="label", name=str(score.get("name") or "score"), value=value,
                      data=data, created_by="langfuse")

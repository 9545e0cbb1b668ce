"""OpenAI Responses API: input items, output items, streamed events → `LlmCall`.

Items map to messages: `message` items by role; `function_call` items become tool calls of an
assistant message (consecutive reasoning / message / function_call items of one step merge
into one assistant message); `function_call_output` items become tool messages; `reasoning`
becomes a `thinking` part. A stream's final response is the one `response.completed` (or
`.incomplete` / `.failed`) carries; when it carries no output, the items from
`response.output_item.done` are used, as the SDK does; a stream cut before completion is
rebuilt from the items and deltas seen.

This is the one parser of the format: a replay reads its model's replies with
`output_messages` and the scripted fake model reads requests with `request_call`
(`replayer.wire.openai_responses`), so the same bytes are the same messages on both sides.
The finish reason is spelled as the session model spells it (`finish_reason`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import LlmCall, flat_usage, tool_arguments
from recorder.protocols.sse import SseEvent, decode_json_events, event_object
from recorder.session import ToolDef

_NOT_PARAMS = {"input", "instructions", "tools", "stream", "stream_options"}
_FINAL = ("response.completed", "response.incomplete", "response.failed")
KNOWN_EVENTS = {
    "response.created", "response.in_progress", "response.queued", "response.output_item.added",
    "response.output_item.done", "response.content_part.added", "response.content_part.done",
    "response.output_text.delta", "response.output_text.done", "response.refusal.delta",
    "response.refusal.done", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done", "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done", "response.reasoning_text.delta",
    "response.reasoning_text.done", "response.output_text.annotation.added", "error", *_FINAL,
}


def _parts(content: Any) -> list[LPart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [LPart(text=content)] if content else []
    parts = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            parts.append(LPart(text=str(p.get("text", ""))))
        elif kind == "refusal":
            parts.append(LPart(type="refusal", text=str(p.get("refusal", ""))))
        elif kind == "input_image":
            parts.append(LPart(type="image", data={k: v for k, v in p.items()
                                                          if k != "type"}))
        else:
            parts.append(LPart(type="json", data=p))
    return parts


class _Builder:
    """Turns a sequence of items into messages, merging the items of one assistant step."""

    def __init__(self, names: dict[str, str], exchange_id: str | None = None) -> None:
        self.messages: list[LMessage] = []
        self.names = names
        self.exchange_id = exchange_id
        self._parts: list[LPart] = []
        self._calls: list[LCall] = []
        self._open = False

    def _flush(self) -> None:
        if self._open:
            self.messages.append(LMessage(role="assistant", content=self._parts,
                                         tool_calls=self._calls, exchange_id=self.exchange_id))
        self._parts, self._calls, self._open = [], [], False

    def add(self, item: dict[str, Any]) -> None:
        kind = item.get("type", "message")
        role = item.get("role")
        if kind == "message" and role == "assistant":
            if self._calls or any(p.type in ("text", "refusal") for p in self._parts):
                self._flush()
            self._parts.extend(_parts(item.get("content")))
            self._open = True
        elif kind == "message":
            self._flush()
            self.messages.append(LMessage(
                role="system" if role in ("system", "developer") else "user",
                content=_parts(item.get("content"))))
        elif kind == "reasoning":
            if self._calls or any(p.type in ("text", "refusal") for p in self._parts):
                self._flush()
            summary = "\n".join(s.get("text", "") for s in item.get("summary") or []
                                if isinstance(s, dict))
            body = "\n".join(c.get("text", "") for c in item.get("content") or []
                             if isinstance(c, dict))
            if summary or body:
                self._parts.append(LPart(type="thinking", text=body or summary,
                                               data={"id": item.get("id")}))
            else:
                self._parts.append(LPart(type="redacted_thinking",
                                               data={"id": item.get("id")}))
            self._open = True
        elif kind in ("function_call", "custom_tool_call"):
            raw = item.get("arguments", item.get("input"))
            args, args_raw = tool_arguments(raw)
            call_id = str(item.get("call_id") or item.get("id") or f"call_{len(self.names)}")
            name = str(item.get("name", ""))
            self.names[call_id] = name
            self._calls.append(LCall(id=call_id, name=name, arguments=args,
                                        arguments_raw=args_raw))
            self._open = True
        elif kind in ("function_call_output", "custom_tool_call_output"):
            self._flush()
            output = item.get("output")
            parts = _parts(output) if not isinstance(output, str) else [LPart(text=output)]
            text = "".join(p.text for p in parts)
            call_id = str(item.get("call_id", ""))
            self.messages.append(LMessage(role="tool", content=parts, tool_call_id=call_id,
                                         name=self.names.get(call_id),
                                         result=LResult(content=text)))
        elif kind == "item_reference":
            return  # a reference to an item stored server-side; the chain carries it
        else:  # hosted tools (web_search_call, mcp_call, ...): kept whole on the step
            self._parts.append(LPart(type="json", data=item))
            self._open = True

    def done(self) -> list[LMessage]:
        self._flush()
        return self.messages


def items_to_messages(items: list[Any], names: dict[str, str],
                      exchange_id: str | None = None) -> list[LMessage]:
    """Messages for a list of input or output items."""
    b = _Builder(names, exchange_id)
    for item in items:
        if isinstance(item, dict):
            b.add(item)
    return b.done()


def request_call(req: dict[str, Any]) -> LlmCall:
    """The request half: instructions + input items, tools, params, previous_response_id."""
    names: dict[str, str] = {}
    messages: list[LMessage] = []
    if isinstance(req.get("instructions"), str) and req["instructions"]:
        messages.append(LMessage(role="system", content=[LPart(text=req["instructions"])]))
    inp = req.get("input")
    if isinstance(inp, str):
        messages.append(LMessage(role="user", content=[LPart(text=inp)]))
    elif isinstance(inp, list):
        messages.extend(items_to_messages(inp, names))
    tools = []
    for t in req.get("tools") or []:
        if not isinstance(t, dict):
            continue
        if t.get("type") in ("function", "custom"):
            tools.append(ToolDef(name=str(t.get("name", "")),
                                 description=str(t.get("description") or ""),
                                 input_schema=t.get("parameters") or {}))
        else:
            tools.append(ToolDef(name=str(t.get("name") or t.get("server_label")
                                          or t.get("type")), input_schema={}))
    params = {k: v for k, v in req.items() if k not in _NOT_PARAMS}
    model = req.get("model")
    prev = req.get("previous_response_id")
    return LlmCall(api="openai_responses", model=model if isinstance(model, str) else None,
                   messages=messages, tools=tools, params=params, stream=bool(req.get("stream")),
                   previous_response_id=prev if isinstance(prev, str) else None)


def accumulate(events: list[SseEvent], problems: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """The final response object of a stream, and whether the stream completed."""
    response: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    added: dict[int, dict[str, Any]] = {}
    done_items: dict[int, dict[str, Any]] = {}
    for n, (event, e) in enumerate(zip(events, decode_json_events(events), strict=True)):
        e = event_object(n, e, problems)
        if e is None:
            continue
        kind = e.get("type") or event.event
        if kind not in KNOWN_EVENTS:
            problems.append(f"stream event #{n + 1} has the unknown type {kind!r} (ignored)")
            continue
        try:
            if kind in ("response.created", "response.in_progress", "response.queued"):
                response = dict(e["response"])
            elif kind in _FINAL:
                final = dict(e["response"])
            elif kind == "response.output_item.added":
                added[e["output_index"]] = json.loads(json.dumps(e["item"]))
            elif kind == "response.output_item.done":
                done_items[e["output_index"]] = e["item"]
            elif kind == "response.content_part.added":
                added[e["output_index"]].setdefault("content", []).append(dict(e["part"]))
            elif kind == "response.output_text.delta":
                part = added[e["output_index"]]["content"][e["content_index"]]
                part["text"] = part.get("text", "") + e["delta"]
            elif kind == "response.refusal.delta":
                part = added[e["output_index"]]["content"][e["content_index"]]
                part["refusal"] = part.get("refusal", "") + e["delta"]
            elif kind == "response.function_call_arguments.delta":
                item = added[e["output_index"]]
                item["arguments"] = item.get("arguments", "") + e["delta"]
            elif kind == "error":
                problems.append(f"the stream carried an error event: {e.get('message')}")
                final = final or {**(response or {}), "status": "failed",
                                  "error": {"message": e.get("message"), "code": e.get("code")}}
        except (KeyError, IndexError, TypeError) as exc:
            problems.append(f"stream event #{n + 1} ({kind}) does not fit the stream "
                            f"(missing {exc})")
    if final is not None:
        if final.get("output") is None:
            final["output"] = [done_items[i] for i in sorted(done_items)]
        return final, True
    problems.append("the stream ended before `response.completed` (truncated)")
    if response is None:
        return None, False
    rebuilt = dict(response)
    rebuilt["output"] = [done_items.get(i, added.get(i)) for i in sorted({*added, *done_items})]
    rebuilt["status"] = "incomplete"
    return rebuilt, False


INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
"""Why a response is `incomplete` -> the session model's finish reason (OpenAI Chat's)."""


def finish_reason(native: Mapping[str, Any], has_calls: bool) -> str:
    """The finish reason of a response object: an `incomplete` one's reason (mapped; a cut
    stream, which has none, `incomplete`), else `tool_calls` when it calls tools, else `stop`
    once completed (or its status, e.g. `failed`)."""
    status = native.get("status")
    if status == "incomplete":
        reason = (native.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE_REASONS.get(reason, reason) if reason else "incomplete"
    if has_calls:
        return "tool_calls"
    return "stop" if status in (None, "completed") else str(status)


def output_messages(native: Mapping[str, Any], exchange_id: str | None, complete: bool = True
                    ) -> list[LMessage]:
    """The assistant message of a response object (one step; empty when it has no output).
    A cut stream's response is `incomplete` (`accumulate`), so `complete` changes nothing."""
    messages = items_to_messages(native.get("output") or [], {}, exchange_id)
    if not messages:
        return []
    msg = messages[-1] if len(messages) == 1 else _merge(messages)
    return [msg.model_copy(update={"finish_reason": finish_reason(native, bool(msg.tool_calls)),
                                   "usage": flat_usage(native.get("usage"))})]


def token_counts(usage: Any) -> dict[str, int]:
    """A response's `usage` as the provider-neutral counts replay accounting adds up."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return {"input_tokens": int(usage.get("input_tokens") or 0),
            "output_tokens": int(usage.get("output_tokens") or 0),
            "cached_tokens": int(cached or 0)}


def _merge(messages: list[LMessage]) -> LMessage:
    """One response is one model step: merge its assistant messages into one."""
    return LMessage(role="assistant", exchange_id=messages[0].exchange_id,
                   content=[p for m in messages for p in m.content],
                   tool_calls=[c for m in messages for c in m.tool_calls])

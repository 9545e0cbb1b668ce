"""Anthropic Messages: `tool_use` / `tool_result` blocks, thinking, every SSE event → `LlmCall`.

On the wire, tool results travel inside *user* messages as `tool_result` blocks; here they
become `tool` messages (followed by a user message for any other blocks), so turns split at
real user messages only. Thinking blocks are kept as `thinking` parts (signature in `data`),
redacted thinking as `redacted_thinking`. Streams are reassembled as the SDK does: blocks from
`content_block_start`, text / thinking / tool-input JSON / signature / citation deltas,
`message_delta` setting stop reason and cumulative usage.

This is the one parser of the format: a replay reads its model's replies with
`output_messages` and the scripted fake model reads requests with `request_call`
(`replayer.wire.anthropic`), so the same bytes are the same messages on both sides. The stop
reason is spelled as the session model spells it (`finish_reason`: `end_turn` is `stop`,
`tool_use` is `tool_calls`, `max_tokens` is `length`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from recorder.fastjson import loads
from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import LlmCall, flat_usage
from recorder.protocols.sse import SseEvent, decode_json_events
from recorder.session import ToolDef

_NOT_PARAMS = {"messages", "system", "tools", "stream"}
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
                "tool_use": "tool_calls", "max_tokens": "length",
                "refusal": "content_filter"}
"""Anthropic's stop reasons -> the session model's finish reasons (OpenAI's spelling)."""

KNOWN_EVENTS = {"message_start", "content_block_start", "content_block_delta",
                "content_block_stop", "message_delta", "message_stop", "ping", "error"}


def _block_part(b: dict[str, Any]) -> LPart:
    kind = b.get("type")
    if kind == "text":
        return LPart(text=str(b.get("text", "")))
    if kind == "thinking":
        return LPart(type="thinking", text=str(b.get("thinking", "")),
                           data={"signature": b.get("signature")})
    if kind == "redacted_thinking":
        return LPart(type="redacted_thinking", data={"data": b.get("data")})
    if kind in ("image", "document"):
        return LPart(type="image" if kind == "image" else "json", data=b.get("source", b))
    return LPart(type="json", data=b)


def _text_of(content: Any) -> tuple[list[LPart], str]:
    if isinstance(content, str):
        return ([LPart(text=content)] if content else []), content
    parts = [_block_part(b) for b in content or [] if isinstance(b, dict)]
    return parts, "".join(p.text for p in parts if p.type == "text")


def to_messages(m: dict[str, Any], names: dict[str, str]) -> list[LMessage]:
    """One wire message as one or more neutral messages (tool results split out)."""
    role = m.get("role")
    content = m.get("content")
    if role == "assistant":
        if isinstance(content, str):
            return [LMessage(role="assistant", content=[LPart(text=content)]
                            if content else [])]
        parts, calls = [], []
        for b in content or []:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "tool_use":
                calls.append(LCall(id=str(b.get("id", "")), name=str(b.get("name", "")),
                                      arguments=b.get("input")))
                names[str(b.get("id", ""))] = str(b.get("name", ""))
            else:
                parts.append(_block_part(b))
        return [LMessage(role="assistant", content=parts, tool_calls=calls)]
    if isinstance(content, str):
        return [LMessage(role="user", content=[LPart(text=content)])]
    out: list[LMessage] = []
    rest: list[LPart] = []
    for b in content or []:
        if isinstance(b, dict) and b.get("type") == "tool_result":
            parts, text = _text_of(b.get("content"))
            call_id = str(b.get("tool_use_id", ""))
            out.append(LMessage(role="tool", content=parts, tool_call_id=call_id,
                               name=names.get(call_id),
                               result=LResult(content=text, is_error=bool(b.get("is_error")))))
        elif isinstance(b, dict):
            rest.append(_block_part(b))
    if rest or not out:
        out.append(LMessage(role="user", content=rest))
    return out


def request_call(req: dict[str, Any]) -> LlmCall:
    """The request half: system, messages (tool results split out), tools, params."""
    names: dict[str, str] = {}
    messages: list[LMessage] = []
    system = req.get("system")
    if system:
        parts, _ = _text_of(system)
        messages.append(LMessage(role="system", content=parts))
    for m in req.get("messages") or []:
        if isinstance(m, dict):
            messages.extend(to_messages(m, names))
    tools = [ToolDef(name=str(t.get("name") or t.get("type")),
                     description=str(t.get("description") or ""),
                     input_schema=t.get("input_schema") or {})
             for t in req.get("tools") or [] if isinstance(t, dict)]
    params = {k: v for k, v in req.items() if k not in _NOT_PARAMS}
    model = req.get("model")
    return LlmCall(api="anthropic_messages", model=model if isinstance(model, str) else None,
                   messages=messages, tools=tools, params=params, stream=bool(req.get("stream")))


def accumulate(events: list[SseEvent], problems: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """The `message` object a stream adds up to, and whether it reached `message_stop`."""
    snap: dict[str, Any] | None = None
    bufs: dict[int, str] = {}
    stopped = False
    for n, e in enumerate(decode_json_events(events)):
        if isinstance(e, ValueError):
            problems.append(f"stream event #{n + 1} is not valid JSON ({e})")
            continue
        kind = e.get("type") if isinstance(e, dict) else None
        if kind not in KNOWN_EVENTS:
            problems.append(f"stream event #{n + 1} has the unknown type {kind!r} (ignored)")
            continue
        try:
            if kind == "message_start":
                snap = json.loads(json.dumps(e["message"]))
                snap.setdefault("content", [])
            elif kind == "error":
                err = e.get("error") or {}
                problems.append(f"the stream carried an error event: {err.get('message')}")
                snap = snap or {"content": []}
                snap["_error"] = err.get("message") or err.get("type") or "error"
            elif kind in ("ping",):
                continue
            elif snap is None:
                problems.append(f"stream event #{n + 1} ({kind}) came before message_start")
            elif kind == "content_block_start":
                snap["content"].append(dict(e["content_block"]))
            elif kind == "content_block_delta":
                _delta(snap["content"][e["index"]], e["index"], e["delta"], bufs, problems)
            elif kind == "message_delta":
                delta, usage = e.get("delta") or {}, e.get("usage") or {}
                for key in ("stop_reason", "stop_sequence"):
                    snap[key] = delta.get(key)
                if delta.get("container") is not None:
                    snap["container"] = delta["container"]
                snap.setdefault("usage", {})
                for key, value in usage.items():
                    if value is not None or key == "output_tokens":
                        snap["usage"][key] = value
            elif kind == "message_stop":
                stopped = True
        except (KeyError, IndexError, TypeError) as exc:
            problems.append(f"stream event #{n + 1} ({kind}) does not fit the stream "
                            f"(missing {exc})")
    if snap is not None:
        for index, buf in bufs.items():
            block = snap["content"][index]
            try:
                block["input"] = loads(buf)
            except ValueError:
                problems.append(f"the tool input of block #{index} is not valid JSON; kept raw")
                block["input"] = buf
    if not stopped:
        problems.append("the stream ended before `message_stop` (truncated)")
    return snap, stopped


def _delta(block: dict[str, Any], index: int, d: dict[str, Any], bufs: dict[int, str],
           problems: list[str]) -> None:
    kind = d.get("type")
    if kind == "text_delta" and block.get("type") == "text":
        block["text"] = block.get("text", "") + d["text"]
    elif kind == "input_json_delta":
        bufs[index] = bufs.get(index, "") + d["partial_json"]
    elif kind == "thinking_delta" and block.get("type") == "thinking":
        block["thinking"] = block.get("thinking", "") + d["thinking"]
    elif kind == "signature_delta" and block.get("type") == "thinking":
        block["signature"] = d["signature"]
    elif kind == "citations_delta" and block.get("type") == "text":
        block["citations"] = [*(block.get("citations") or []), d["citation"]]
    elif kind not in ("text_delta", "thinking_delta", "signature_delta", "citations_delta"):
        problems.append(f"a content block delta has the unknown type {kind!r} (ignored)")


def finish_reason(stop_reason: Any) -> str | None:
    """The finish reason a `stop_reason` stands for: mapped, an unknown one kept, none None
    (a stream cut before `message_delta`)."""
    if isinstance(stop_reason, str) and stop_reason:
        return STOP_REASONS.get(stop_reason, stop_reason)
    return None


def output_messages(native: Mapping[str, Any], exchange_id: str | None, complete: bool = True
                    ) -> list[LMessage]:
    """The assistant message of a `message` object (a cut stream has no `stop_reason`, so
    `complete` changes nothing)."""
    msgs = to_messages({"role": "assistant", "content": native.get("content") or []}, {})
    msg = msgs[0].model_copy(update={"finish_reason": finish_reason(native.get("stop_reason")),
                                     "usage": flat_usage(native.get("usage")),
                                     "exchange_id": exchange_id})
    return [msg]


def token_counts(usage: Any) -> dict[str, int]:
    """A response's `usage` as the provider-neutral counts replay accounting adds up
    (`input_tokens`, `output_tokens`, `cached_tokens`: the cache reads)."""
    usage = usage if isinstance(usage, dict) else {}
    return {"input_tokens": int(usage.get("input_tokens") or 0),
            "output_tokens": int(usage.get("output_tokens") or 0),
            "cached_tokens": int(usage.get("cache_read_input_tokens") or 0)}

"""OpenAI Chat Completions: requests, JSON and SSE-streamed responses → `LlmCall`.

This is the one parser of the format. Recording uses it through `llm_exchange`; a replay uses
it too (`replayer.wire.openai_chat.decode_response` reads a model's reply with
`output_messages`, the scripted fake model reads requests with `request_call`), so the same
bytes are the same messages whichever side reads them.

Streams are reassembled with the same rules the official SDK applies (`accumulate_delta`):
strings concatenate, `index`/`type` are replaced, lists of indexed entries merge by `index`
(so tool-call argument fragments join and parallel tool calls stay apart), `finish_reason`
is set when it arrives, and `usage` / `system_fingerprint` come from the last chunk.

An assistant message reads the same in a response and in the request that echoes it
(`assistant_message`): reasoning (`reasoning_content` or `reasoning`) as a thinking part, the
content, a `refusal` as a refusal part, `tool_calls` and the legacy `function_call` as tool
calls. The legacy request keys are read too: `functions` as tool definitions, a `function`-role
message as the result of the latest call of that name.

OpenAI-compatible servers (vLLM, llama.cpp, Ollama, LiteLLM) bend the format; their quirks
are read, not refused (docs/replayer.md, "OpenAI-compatible servers"): a tool call without an
`id` (and a legacy `function_call`, which never has one) gets one derived from its name,
arguments and position (`missing_call_id`, the same in the response and in the next request
that echoes it); arguments sent as a JSON object are taken as they are; `finish_reason`
spellings (`eos`, `tool_call`) are mapped to OpenAI's and a missing one is read from what the
message does (`finish_reason`); a streamed tool-call delta without `index` is placed by its
position; a missing `usage` is an empty one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import LlmCall, flat_usage, tool_arguments
from recorder.protocols.sse import SseEvent, decode_json_events, event_object
from recorder.session import ToolDef

_NOT_PARAMS = {"messages", "tools", "functions", "stream", "stream_options"}

FINISH_REASONS = {"stop": "stop", "eos": "stop", "eos_token": "stop", "end_turn": "stop",
                  "stop_sequence": "stop", "tool_calls": "tool_calls",
                  "tool_call": "tool_calls", "function_call": "tool_calls",
                  "tool_use": "tool_calls", "length": "length", "max_tokens": "length",
                  "content_filter": "content_filter"}
"""Finish reasons as OpenAI-compatible servers spell them -> OpenAI's spelling."""


def finish_reason(raw: Any, has_calls: bool, complete: bool = True) -> str | None:
    """OpenAI's finish reason for what a server said: its spelling mapped, an unknown one
    kept. A missing one is `tool_calls` when the message calls tools, else `stop` when the
    response is `complete` (an answer that arrived whole without saying why stopped of its own
    accord), else None (a stream cut before its end: unknown)."""
    if isinstance(raw, str) and raw:
        return FINISH_REASONS.get(raw, raw)
    if has_calls:
        return "tool_calls"
    return "stop" if complete else None


def missing_call_id(name: str, arguments: Any, index: int) -> str:
    """The id of a tool call a server sent without one: derived from what the call holds, so
    the response and the next request (which echoes the call) agree, and two steps' calls do
    not share an id as `call_0` would."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True,
                                                                   default=str)
    digest = hashlib.sha256(f"{name}|{text}|{index}".encode()).hexdigest()[:24]
    return f"call_{digest}"


def merge_delta(acc: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Merge a streamed delta into the accumulated object, the way the SDK does."""
    for key, value in delta.items():
        if type(value) is str:  # the common delta (a text or arguments piece), done directly
            current = acc.get(key)
            if current is None or key in ("index", "type"):
                acc[key] = value
                continue
            if type(current) is str:
                acc[key] = current + value
                continue
        if key not in acc or acc[key] is None:
            if _indexed(value):
                acc[key] = []
            else:
                acc[key] = value
                continue
        current = acc[key]
        if key in ("index", "type"):
            acc[key] = value
        elif _addable(current, value):
            acc[key] = current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            acc[key] = merge_delta(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            if all(isinstance(x, str | int | float) for x in current) and (
                current or not _indexed(value)
            ):
                current.extend(value)
                continue
            for position, entry in enumerate(value):
                if not isinstance(entry, dict):
                    raise ValueError("a list delta entry is not an object")
                # some OpenAI-compatible servers leave `index` out: place it by position
                i = entry["index"] if isinstance(entry.get("index"), int) else position
                if i < len(current):
                    current[i] = merge_delta(current[i], entry)
                else:
                    current.insert(i, dict(entry))
    return acc


def _addable(a: Any, b: Any) -> bool:
    """Strings concatenate and numbers add, as in the SDK's accumulation."""
    return (isinstance(a, str) and isinstance(b, str)) or (
        isinstance(a, int | float) and isinstance(b, int | float))


def _indexed(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(x, dict) and ("index" in x or "function" in x) for x in value)


def accumulate(events: list[SseEvent], problems: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """The `chat.completion` object a stream adds up to, and whether it ended properly."""
    snapshot: dict[str, Any] | None = None
    done = any(e.data.strip() == "[DONE]" for e in events)
    numbered = [(n, e) for n, e in enumerate(events) if e.data.strip() != "[DONE]"]
    decoded = decode_json_events([e for _, e in numbered])
    for (n, _event), chunk in zip(numbered, decoded, strict=True):
        chunk = event_object(n, chunk, problems)
        if chunk is None:
            continue
        if "error" in chunk and "choices" not in chunk:
            err = chunk["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            problems.append(f"the stream carried an error event: {msg}")
            if snapshot is not None:
                snapshot["_error"] = msg
            else:
                snapshot = {"_error": msg, "choices": []}
            continue
        if chunk.get("object") not in (None, "chat.completion.chunk"):
            continue  # e.g. Azure content-filter events, which the SDK skips as well
        try:
            snapshot = _add_chunk(snapshot, chunk)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            problems.append(f"stream event #{n + 1} does not fit the stream ({exc})")
    if not done:
        problems.append("the stream ended without `data: [DONE]` (truncated)")
    return snapshot, done


def _add_chunk(snapshot: dict[str, Any] | None, chunk: dict[str, Any]) -> dict[str, Any]:
    choices = chunk.get("choices") or []
    if snapshot is None:
        snapshot = {k: v for k, v in chunk.items() if k not in ("choices", "obfuscation")}
        snapshot.setdefault("system_fingerprint", None)
        snapshot["object"] = "chat.completion"
        snapshot["choices"] = []
        for choice in choices:
            _new_choice(snapshot, choice)
        return snapshot
    for choice in choices:
        i = choice["index"]
        existing = None
        for c in snapshot["choices"]:
            if c["index"] == i:
                existing = c
                break
        if existing is None:
            _new_choice(snapshot, choice)
            continue
        existing["message"] = merge_delta(existing["message"], dict(choice.get("delta") or {}))
        if choice.get("finish_reason"):
            existing["finish_reason"] = choice["finish_reason"]
        if choice.get("logprobs"):
            lp = existing.setdefault("logprobs", {}) or {}
            for key in ("content", "refusal"):
                if choice["logprobs"].get(key):
                    lp[key] = (lp.get(key) or []) + choice["logprobs"][key]
            existing["logprobs"] = lp
    snapshot["usage"] = chunk.get("usage")
    snapshot["system_fingerprint"] = chunk.get("system_fingerprint")
    return snapshot


def _new_choice(snapshot: dict[str, Any], choice: dict[str, Any]) -> None:
    entry = {k: v for k, v in choice.items() if k != "delta"}
    entry["message"] = merge_delta({}, dict(choice.get("delta") or {}))
    snapshot["choices"].append(entry)
    snapshot["choices"].sort(key=lambda c: c["index"])


def content_parts(content: Any) -> list[LPart]:
    """Chat `content` (a string or a list of parts) as content parts."""
    if type(content) is str:  # the common case first
        return [LPart("text", content)] if content else []
    if content is None:
        return []
    if isinstance(content, str):
        return [LPart(text=content)] if content else []
    parts: list[LPart] = []
    for p in content if isinstance(content, list) else [content]:
        if not isinstance(p, dict):
            parts.append(LPart(text=str(p)))
        elif p.get("type") == "text" or ("text" in p and "type" not in p):
            parts.append(LPart(text=str(p.get("text", ""))))
        elif p.get("type") == "refusal":
            parts.append(LPart(type="refusal", text=str(p.get("refusal", ""))))
        elif p.get("type") == "image_url":
            parts.append(LPart(type="image", data=p.get("image_url")))
        else:
            parts.append(LPart(type="json", data=p))
    return parts


def _tool_calls(raw: Any) -> list[LCall]:
    calls = []
    wire = [tc for tc in raw or [] if isinstance(tc, dict)]
    if all(isinstance(tc.get("index"), int) for tc in wire):  # numbered: in their order
        wire = sorted(wire, key=lambda tc: tc["index"])
    for i, tc in enumerate(wire):
        fn = tc.get("function") or tc.get("custom") or {}
        wire_args = fn.get("arguments", fn.get("input"))
        wire_args = "" if wire_args is None else wire_args
        args, args_raw = tool_arguments(wire_args)
        name = str(fn.get("name", ""))
        calls.append(LCall(id=str(tc.get("id") or missing_call_id(name, wire_args, i)),
                           name=name, arguments=args, arguments_raw=args_raw))
    return calls


def assistant_message(m: dict[str, Any]) -> LMessage:
    """An assistant message, as a response's choice carries it or a request echoes it:
    reasoning, content and refusal as parts; `tool_calls` and the legacy `function_call` as
    calls (the latter after the former, with an id derived as for a call without one)."""
    parts = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(LPart(type="thinking", text=reasoning))
    parts.extend(content_parts(m.get("content")))
    if m.get("refusal"):
        parts.append(LPart(type="refusal", text=str(m["refusal"])))
    calls = _tool_calls(m.get("tool_calls"))
    fc = m.get("function_call")
    if isinstance(fc, dict):
        wire_args = "" if fc.get("arguments") is None else fc["arguments"]
        args, raw = tool_arguments(wire_args)
        fn_name = str(fc.get("name", ""))
        calls.append(LCall(id=missing_call_id(fn_name, wire_args, len(calls)), name=fn_name,
                           arguments=args, arguments_raw=raw))
    speaker = m.get("name")
    return LMessage(role="assistant", content=parts, tool_calls=calls,
                    name=speaker if isinstance(speaker, str) else None)


def to_message(m: dict[str, Any], names: dict[str, str]) -> LMessage:
    """One request message; `names` maps tool-call ids to tool names seen so far."""
    role = m.get("role")
    if role in ("system", "developer"):
        return LMessage(role="system", content=content_parts(m.get("content")))
    if role == "assistant":
        msg = assistant_message(m)
        for c in msg.tool_calls:
            names[c.id] = c.name
        return msg
    if role in ("tool", "function"):
        parts = content_parts(m.get("content"))
        text = "".join(p.text for p in parts)
        call_id = m.get("tool_call_id") or next(
            (i for i, n in reversed(names.items()) if n == m.get("name")), None)
        return LMessage(role="tool", content=parts, tool_call_id=call_id,
                       name=m.get("name") or names.get(call_id or ""),
                       result=LResult(content=text))
    return LMessage(role="user", content=content_parts(m.get("content")), name=m.get("name"))


def choices(native: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The choices of a `chat.completion` object, in `index` order."""
    return sorted(native.get("choices") or [], key=lambda c: c.get("index", 0))


def choice_message(choice: dict[str, Any], complete: bool = True) -> LMessage:
    """The assistant message of one choice, with its finish reason (see `finish_reason`)."""
    msg = assistant_message(choice.get("message") or {})
    msg.finish_reason = finish_reason(choice.get("finish_reason"), bool(msg.tool_calls),
                                      complete)
    return msg


def output_messages(native: Mapping[str, Any], exchange_id: str | None,
                    complete: bool = True) -> list[LMessage]:
    """The assistant message of every choice of a `chat.completion` object, with the
    response's usage; `complete` is False for a stream cut before its end."""
    out = []
    usage = flat_usage(native.get("usage"))
    for choice in choices(native):
        msg = choice_message(choice, complete)
        msg.usage = usage
        msg.exchange_id = exchange_id
        out.append(msg)
    return out


def token_counts(usage: Any) -> dict[str, int]:
    """A response's `usage` as the provider-neutral counts replay accounting adds up
    (`input_tokens`, `output_tokens`, `cached_tokens`; 0 for what the server left out)."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return {"input_tokens": int(usage.get("prompt_tokens") or 0),
            "output_tokens": int(usage.get("completion_tokens") or 0),
            "cached_tokens": int(cached or 0)}


def request_call(req: dict[str, Any]) -> LlmCall:
    """The request half of a call: messages, tools, params."""
    names: dict[str, str] = {}
    messages = [to_message(m, names) for m in req.get("messages") or [] if isinstance(m, dict)]
    tools = []
    for t in req.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict):
            tools.append(ToolDef(name=str(fn.get("name", "")),
                                 description=str(fn.get("description") or ""),
                                 input_schema=fn.get("parameters") or {}))
        elif isinstance(t, dict) and t.get("name"):
            tools.append(ToolDef(name=str(t["name"]), description=str(t.get("description") or "")))
    for fn in req.get("functions") or []:
        if isinstance(fn, dict):
            tools.append(ToolDef(name=str(fn.get("name", "")),
                                 description=str(fn.get("description") or ""),
                                 input_schema=fn.get("parameters") or {}))
    params = {k: v for k, v in req.items() if k not in _NOT_PARAMS}
    model = req.get("model")
    return LlmCall(api="openai_chat", model=model if isinstance(model, str) else None,
                   messages=messages, tools=tools, params=params, stream=bool(req.get("stream")))

"""Gemini `generateContent` / `streamGenerateContent`: contents, function calls → `LlmCall`.

The model and the streaming choice live in the URL (`POST /v1beta/models/{model}:generateContent`,
`...:streamGenerateContent?alt=sse`), not in the body, so `with_url` completes the request half.
`contents` alternate `user` and `model`; function results travel inside *user* contents as
`functionResponse` parts and become `tool` messages here (followed by a user message for any
other parts), so turns split at real user messages only. Thought parts (`"thought": true`)
are kept as `thinking` parts, their `thoughtSignature` in `data`; a signature the model put on a
function call (thinking models want it back with the call) is an empty `thinking` part whose
`data` also names the call (`call_id`).

A stream is a sequence of whole `GenerateContentResponse` chunks (no `[DONE]`): parts
concatenate per candidate (adjacent text pieces join), `finishReason`, `usageMetadata`,
`modelVersion` and `responseId` come from the last chunk that has them. A stream in which no
candidate reached a `finishReason` was cut.

Function calls carry an `id` only on newer models; a call without one gets an id derived from
its name and arguments (`synthetic_call_id`), the same whether it is read from the response or
from the history a later request echoes, and a `functionResponse` without one answers the
oldest unanswered call of its name.

The API reads JSON the protobuf way, accepting each field under its camelCase or its
snake_case name, and clients use both (`google-genai` sends `parameters_json_schema`), so every
field is read under either (`field`).

This is the one parser of the format: a replay reads its model's replies with
`output_messages` and the scripted fake model reads requests with `request_call`
(`replayer.wire.gemini`), so the same bytes are the same messages on both sides. The finish
reason is spelled as the session model spells it (`finish_reason`: `STOP` is `stop`, or
`tool_calls` beside calls; `MAX_TOKENS` is `length`; the safety reasons `content_filter`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import LlmCall, canonical_json, flat_usage
from recorder.protocols.sse import SseEvent, decode_json_events, event_object
from recorder.session import ToolDef

SYNTHETIC_PREFIX = "gemini-fc-"
"""Prefix of the ids given to function calls the API sent without one (never sent back)."""

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
                  "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
                  "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
                  "IMAGE_SAFETY": "content_filter"}
"""Gemini's finish reasons -> the session model's (OpenAI's spelling); others lower-cased."""

_NOT_PARAMS = {"contents", "systemInstruction", "system_instruction", "tools"}
STREAM_METHOD = ":streamGenerateContent"
METHODS = (":generateContent", STREAM_METHOD)
_SNAKE: dict[str, str] = {}


def field(obj: dict[str, Any], name: str) -> Any:
    """`obj[name]` under its camelCase `name` or its snake_case spelling (None if neither)."""
    if name in obj:
        return obj[name]
    snake = _SNAKE.get(name)
    if snake is None:
        snake = _SNAKE[name] = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return obj.get(snake)


def synthetic_call_id(name: str, args: Any, nth: int = 0) -> str:
    """The id of a function call that came without one: from its name and canonical arguments
    (and its rank among identical calls of one message), so the same call gets the same id
    in the response and in every later request that echoes it."""
    digest = hashlib.sha256(f"{name}\x00{canonical_json(args)}".encode()).hexdigest()[:12]
    return f"{SYNTHETIC_PREFIX}{digest}" + (f"-{nth}" if nth else "")


def model_of(path: str) -> str | None:
    """The model a generateContent URL path names (`.../models/gemini-x:generateContent` →
    `gemini-x`), or None when the path is not a generateContent call."""
    path = path.split("?", 1)[0]
    head, sep, method = path.rpartition(":")
    if not sep or ":" + method not in METHODS:
        return None
    return head.rsplit("/", 1)[-1] or None


def is_stream_path(path: str) -> bool:
    return path.split("?", 1)[0].endswith(STREAM_METHOD)


def with_url(call: LlmCall, url: str) -> None:
    """Complete the request half from the URL: the model and whether a stream was asked for."""
    path = url.split("://", 1)[-1]
    path = path[path.find("/"):] if "/" in path else "/"
    call.model = model_of(path) or call.model
    call.stream = is_stream_path(path)


def _part(p: dict[str, Any]) -> LPart:
    if "text" in p:
        if p.get("thought"):
            return LPart(type="thinking", text=str(p.get("text") or ""),
                         data={"signature": field(p, "thoughtSignature")})
        return LPart(text=str(p.get("text") or ""))
    media = field(p, "inlineData") or field(p, "fileData")
    if media:
        return LPart(type="image", data=media)
    return LPart(type="json", data=p)


def split_parts(parts: list[Any]) -> tuple[list[LPart], list[LCall]]:
    """A `model` content's parts as (content parts, function calls), ids filled in."""
    content: list[LPart] = []
    calls: list[LCall] = []
    seen: Counter[str] = Counter()
    for p in parts:
        if not isinstance(p, dict):
            continue
        fc = field(p, "functionCall")
        if isinstance(fc, dict):
            name, args = str(fc.get("name") or ""), fc.get("args")
            args = {} if args is None else args
            cid = fc.get("id")
            if not isinstance(cid, str) or not cid:
                base = synthetic_call_id(name, args)
                cid = synthetic_call_id(name, args, seen[base])
                seen[base] += 1
            calls.append(LCall(id=cid, name=name, arguments=args))
            signature = field(p, "thoughtSignature")
            if signature:
                content.append(LPart(type="thinking",
                                     data={"signature": signature, "call_id": cid}))
        else:
            content.append(_part(p))
    return content, calls


def result_text(response: Any) -> tuple[str, bool]:
    """A functionResponse's `response` as the tool result text, and whether it is an error.

    By convention (the SDK's automatic function calling) a result is `{"result": value}` and
    a failure `{"error": value}`: a single such key is unwrapped; anything else is JSON."""
    if isinstance(response, dict) and len(response) == 1:
        (key, value), = response.items()
        if key in ("result", "output", "error"):
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            return text, key == "error"
    return json.dumps(response, ensure_ascii=False), False


def to_messages(content: dict[str, Any], pending: dict[str, list[str]]) -> list[LMessage]:
    """One wire content as neutral messages; `pending` holds unanswered call ids by name."""
    parts = content.get("parts") or []
    if content.get("role") == "model":
        body, calls = split_parts(parts)
        for c in calls:
            pending.setdefault(c.name, []).append(c.id)
        return [LMessage(role="assistant", content=body, tool_calls=calls)]
    out: list[LMessage] = []
    rest: list[LPart] = []
    for p in parts:
        fr = field(p, "functionResponse") if isinstance(p, dict) else None
        if isinstance(fr, dict):
            name = str(fr.get("name") or "")
            waiting = pending.get(name) or []
            cid = fr.get("id") if isinstance(fr.get("id"), str) and fr.get("id") else None
            if cid in waiting:
                waiting.remove(cid)
            elif cid is None and waiting:
                cid = waiting.pop(0)
            text, is_error = result_text(fr.get("response"))
            out.append(LMessage(role="tool", content=[LPart(text=text)] if text else [],
                                tool_call_id=cid, name=name,
                                result=LResult(content=text, structured=fr.get("response"),
                                               is_error=is_error)))
        elif isinstance(p, dict):
            rest.append(_part(p))
    if rest or not out:
        out.append(LMessage(role="user", content=rest))
    return out


def tool_defs(tools: Any) -> list[ToolDef]:
    """The function declarations of a request's `tools` (built-in tools by their key)."""
    out: list[ToolDef] = []
    for t in tools or []:
        if not isinstance(t, dict):
            continue
        decls = field(t, "functionDeclarations")
        if not decls:
            out.extend(ToolDef(name=str(k)) for k in t)  # googleSearch, codeExecution, ...
            continue
        for d in decls:
            if isinstance(d, dict):
                schema = field(d, "parametersJsonSchema") or d.get("parameters") or {}
                out.append(ToolDef(name=str(d.get("name") or ""),
                                   description=str(d.get("description") or ""),
                                   input_schema=schema if isinstance(schema, dict) else {}))
    return out


def request_call(req: dict[str, Any]) -> LlmCall:
    """The request half: system instruction, contents (function results split out), tools,
    params (`generationConfig`, `toolConfig`, ...). The model comes from the URL (`with_url`)."""
    messages: list[LMessage] = []
    system = field(req, "systemInstruction")
    if isinstance(system, str):
        system = {"parts": [{"text": system}]}
    if isinstance(system, dict):
        parts = [_part(p) for p in system.get("parts") or [] if isinstance(p, dict)]
        messages.append(LMessage(role="system", content=parts))
    pending: dict[str, list[str]] = {}
    for content in req.get("contents") or []:
        if isinstance(content, dict):
            messages.extend(to_messages(content, pending))
    params = {k: v for k, v in req.items() if k not in _NOT_PARAMS}
    model = req.get("model")  # batch and some proxies put it in the body; the URL wins
    return LlmCall(api="gemini", model=model if isinstance(model, str) else None,
                   messages=messages, tools=tool_defs(req.get("tools")), params=params)


def merge_chunks(chunks: list[Any], problems: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """The response a sequence of `GenerateContentResponse` chunks adds up to, and whether a
    candidate finished (see the module docstring)."""
    snap: dict[str, Any] | None = None
    by_index: dict[int, dict[str, Any]] = {}
    for n, chunk in enumerate(chunks):
        chunk = event_object(n, chunk, problems)
        if chunk is None:
            continue
        snap = snap if snap is not None else {"candidates": []}
        if "error" in chunk and "candidates" not in chunk:
            err = chunk["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            problems.append(f"the stream carried an error event: {msg}")
            snap["_error"] = msg or "error"
            continue
        for key, value in chunk.items():
            if key != "candidates":
                snap[key] = value
        for cand in chunk.get("candidates") or []:
            if not isinstance(cand, dict):
                continue
            idx = cand.get("index", 0)
            merged = by_index.get(idx)
            if merged is None:
                merged = by_index[idx] = {"content": {"role": "model", "parts": []}, "index": idx}
                snap["candidates"].append(merged)
            for key, value in cand.items():
                if key != "content":
                    merged[key] = value
            content = cand.get("content") or {}
            if content.get("role"):
                merged["content"]["role"] = content["role"]
            _add_parts(merged["content"]["parts"], content.get("parts") or [])
    finished = any(field(c, "finishReason") for c in by_index.values())
    if not finished:
        problems.append("the stream ended before any candidate's `finishReason` (truncated)")
    return snap, finished


def _add_parts(parts: list[dict[str, Any]], new: list[Any]) -> None:
    """Append streamed parts; a text piece joins the text part before it (same `thought`)."""
    for p in new:
        if not isinstance(p, dict):
            continue
        last = parts[-1] if parts else None
        if (last is not None and isinstance(p.get("text"), str)
                and isinstance(last.get("text"), str)
                and bool(last.get("thought")) == bool(p.get("thought"))
                and set(p) <= {"text", "thought", "thoughtSignature", "thought_signature"}):
            last["text"] += p["text"]
            for key in ("thoughtSignature", "thought_signature"):
                if p.get(key):
                    last[key] = p[key]
        else:
            parts.append(dict(p))


def accumulate(events: list[SseEvent], problems: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """The response an `alt=sse` stream adds up to, and whether it finished."""
    return merge_chunks(decode_json_events(events), problems)


def accumulate_array(chunks: list[Any], problems: list[str]
                     ) -> tuple[dict[str, Any] | None, bool]:
    """`streamGenerateContent` without `alt=sse` answers one JSON array of chunks."""
    return merge_chunks(chunks, problems)


def finish_reason(raw: Any, has_calls: bool, complete: bool = True) -> str | None:
    """The finish reason a candidate's `finishReason` stands for: `tool_calls` when it calls
    functions and stopped (or, in a response that arrived whole, did not say), else mapped
    (`FINISH_REASONS`, an unknown one lower-cased); None when it did not say."""
    if has_calls and (raw == "STOP" or (not raw and complete)):
        return "tool_calls"
    if isinstance(raw, str) and raw:
        return FINISH_REASONS.get(raw, raw.lower())
    return None


def output_messages(native: Mapping[str, Any], exchange_id: str | None, complete: bool = True
                    ) -> list[LMessage]:
    """The assistant message of every candidate, in `index` order; `complete` is False for a
    stream cut before any candidate finished."""
    out = []
    counts = flat_usage(field(dict(native), "usageMetadata"))
    for cand in sorted(native.get("candidates") or [], key=lambda c: c.get("index", 0)):
        content, calls = split_parts((cand.get("content") or {}).get("parts") or [])
        out.append(LMessage(role="assistant", content=content, tool_calls=calls,
                            finish_reason=finish_reason(field(cand, "finishReason"),
                                                        bool(calls), complete),
                            usage=counts, exchange_id=exchange_id))
    return out


def token_counts(meta: Any) -> dict[str, int]:
    """A response's `usageMetadata` as the provider-neutral counts replay accounting adds up;
    tool-use prompt tokens count as input, thinking tokens as output (they are billed so)."""
    meta = meta if isinstance(meta, dict) else {}

    def count(name: str) -> int:
        return int(field(meta, name) or 0)

    return {"input_tokens": count("promptTokenCount") + count("toolUsePromptTokenCount"),
            "output_tokens": count("candidatesTokenCount") + count("thoughtsTokenCount"),
            "cached_tokens": count("cachedContentTokenCount")}

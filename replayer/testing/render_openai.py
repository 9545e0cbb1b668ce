"""Renders a scripted reply as OpenAI Chat Completions and Responses JSON and SSE streams,
exactly as the official `openai` SDK expects them (see shared protocol notes)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from recorder.session import Message
from replayer.testing.script import SIMULATION
from replayer.wire.codec_helpers import arguments_text

FINGERPRINT = "fp_deploysim_sim"


def pieces(text: str, size: int) -> list[str]:
    """Text cut into pieces of `size` characters (at least one piece, possibly empty)."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {payload}\n\n".encode()


# -- Chat Completions ------------------------------------------------------------------------

def _chat_usage(usage: Mapping[str, int]) -> dict[str, Any]:
    i, o = usage["input_tokens"], usage["output_tokens"]
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def chat_json(rid: str, model: str, created: int, msg: Message,
              usage: Mapping[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": msg.text or None,
                               "refusal": None, "annotations": []}
    if msg.tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": arguments_text(c)}}
                                 for c in msg.tool_calls]
    return {"id": rid, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": FINGERPRINT, "service_tier": "default",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": msg.finish_reason or "stop"}],
            "usage": _chat_usage(usage)}


def chat_stream(rid: str, model: str, created: int, msg: Message, usage: Mapping[str, int],
                *, include_usage: bool, chunk: int) -> Iterator[bytes]:
    base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": FINGERPRINT, "service_tier": "default"}
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": d, "logprobs": None,
                                         "finish_reason": finish}], **extra})

    yield delta({"role": "assistant", "content": "", "refusal": None})
    if msg.text:
        for piece in pieces(msg.text, chunk):
            yield delta({"content": piece})
    for i, call in enumerate(msg.tool_calls):
        # id and name come first with empty arguments; the arguments follow in pieces
        yield delta({"tool_calls": [{"index": i, "id": call.id, "type": "function",
                                     "function": {"name": call.name, "arguments": ""}}]})
        for piece in pieces(arguments_text(call), chunk):
            yield delta({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield delta({}, msg.finish_reason or "stop")
    if include_usage:
        yield sse({**base, "choices": [], "usage": _chat_usage(usage)})
    yield sse("[DONE]")


# -- Responses -------------------------------------------------------------------------------

def _responses_usage(usage: Mapping[str, int]) -> dict[str, Any]:
    i, o = usage["input_tokens"], usage["output_tokens"]
    return {"input_tokens": i,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": o, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": i + o}


def _items(rid: str, msg: Message, *, done: bool) -> list[dict[str, Any]]:
    status = "completed" if done else "in_progress"
    items: list[dict[str, Any]] = []
    if msg.text or not msg.tool_calls:
        items.append({"id": f"msg_{rid[5:]}", "type": "message", "status": status,
                      "role": "assistant",
                      "content": ([{"type": "output_text", "text": msg.text, "annotations": [],
                                    "logprobs": []}] if done else [])})
    for i, c in enumerate(msg.tool_calls):
        items.append({"id": f"fc_{rid[5:]}{i}", "type": "function_call", "status": status,
                      "call_id": c.id, "name": c.name,
                      "arguments": arguments_text(c) if done else ""})
    return items


def responses_json(rid: str, model: str, created: int, msg: Message, usage: Mapping[str, int],
                   request: Mapping[str, Any], *, done: bool = True) -> dict[str, Any]:
    incomplete = msg.finish_reason == "length"
    return {
        "id": rid, "object": "response", "created_at": created, "model": model,
        "status": ("incomplete" if incomplete else "completed") if done else "in_progress",
        "completed_at": created if done else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete and done else None,
        "instructions": request.get("instructions"), "metadata": request.get("metadata") or {},
        "output": _items(rid, msg, done=True) if done else [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "temperature": request.get("temperature", 1.0), "top_p": request.get("top_p", 1.0),
        "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools") or [],
        "max_output_tokens": request.get("max_output_tokens"),
        "background": False, "store": bool(request.get("store", False)),
        "text": {"format": {"type": "text"}}, "truncation": "disabled",
        "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
        "user": None, "prompt_cache_key": None, "safety_identifier": None,
        "usage": _responses_usage(usage) if done else None,
        "x_deploysim": SIMULATION,
    }


def responses_stream(rid: str, model: str, created: int, msg: Message, usage: Mapping[str, int],
                     request: Mapping[str, Any], *, chunk: int) -> Iterator[bytes]:
    seq = iter(range(1 << 30))

    def ev(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

    pending = responses_json(rid, model, created, msg, usage, request, done=False)
    yield ev("response.created", response=pending)
    yield ev("response.in_progress", response=pending)
    started, finished = _items(rid, msg, done=False), _items(rid, msg, done=True)
    for idx, (item, final) in enumerate(zip(started, finished, strict=True)):
        yield ev("response.output_item.added", output_index=idx, item=item)
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            ids = {"item_id": item["id"], "output_index": idx, "content_index": 0}
            yield ev("response.content_part.added", **ids, part=part)
            for piece in pieces(msg.text, chunk) if msg.text else []:
                yield ev("response.output_text.delta", **ids, delta=piece, logprobs=[])
            yield ev("response.output_text.done", **ids, text=msg.text, logprobs=[])
            yield ev("response.content_part.done", **ids, part=final["content"][0])
        else:
            for piece in pieces(final["arguments"], chunk):
                yield ev("response.function_call_arguments.delta", item_id=item["id"],
                         output_index=idx, delta=piece)
            # the done event carries no `name` (as the real API sends it)
            yield ev("response.function_call_arguments.done", item_id=item["id"],
                     output_index=idx, arguments=final["arguments"])
        yield ev("response.output_item.done", output_index=idx, item=final)
    final_kind = "response.incomplete" if msg.finish_reason == "length" else "response.completed"
    yield ev(final_kind, response=responses_json(rid, model, created, msg, usage, request))

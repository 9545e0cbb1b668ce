"""Renders a scripted reply as Anthropic Messages JSON and SSE, as the `anthropic` SDK expects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from recorder.session import Message
from replayer.testing.render_openai import pieces, sse
from replayer.wire.anthropic import canonical_input
from replayer.wire.codec_helpers import arguments_object

_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def _usage(usage: Mapping[str, int], output: int | None = None) -> dict[str, Any]:
    return {"input_tokens": usage["input_tokens"],
            "output_tokens": usage["output_tokens"] if output is None else output,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "service_tier": "standard"}


def _blocks(msg: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for p in msg.content:
        if p.type == "thinking":
            blocks.append({"type": "thinking", "thinking": p.text, "signature": "sim"})
    if msg.text or not msg.tool_calls:
        blocks.append({"type": "text", "text": msg.text})
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(c)}
               for c in msg.tool_calls]
    return blocks


def messages_json(rid: str, model: str, msg: Message, usage: Mapping[str, int]
                  ) -> dict[str, Any]:
    return {"id": rid, "type": "message", "role": "assistant", "model": model,
            "content": _blocks(msg), "stop_reason": _STOP.get(msg.finish_reason or "stop"),
            "stop_sequence": None, "usage": _usage(usage)}


def messages_stream(rid: str, model: str, msg: Message, usage: Mapping[str, int], *,
                    chunk: int) -> Iterator[bytes]:
    def ev(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, **fields}, event=kind)

    start: dict[str, Any] = {
        "id": rid, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": _usage(usage, output=1)}
    yield ev("message_start", message=start)
    calls = {c.id: c for c in msg.tool_calls}
    for i, block in enumerate(_blocks(msg)):
        kind = block["type"]
        if kind == "text":
            yield ev("content_block_start", index=i, content_block={"type": "text", "text": ""})
            if i == 0:
                yield ev("ping")
            for piece in pieces(block["text"], chunk) if block["text"] else []:
                yield ev("content_block_delta", index=i,
                         delta={"type": "text_delta", "text": piece})
        elif kind == "thinking":
            yield ev("content_block_start", index=i,
                     content_block={"type": "thinking", "thinking": "", "signature": ""})
            for piece in pieces(block["thinking"], chunk):
                yield ev("content_block_delta", index=i,
                         delta={"type": "thinking_delta", "thinking": piece})
            yield ev("content_block_delta", index=i,
                     delta={"type": "signature_delta", "signature": "sim"})
        else:
            yield ev("content_block_start", index=i, content_block={
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}})
            for piece in pieces(canonical_input(calls[block["id"]]), chunk):
                yield ev("content_block_delta", index=i,
                         delta={"type": "input_json_delta", "partial_json": piece})
        yield ev("content_block_stop", index=i)
    yield ev("message_delta",
             delta={"stop_reason": _STOP.get(msg.finish_reason or "stop"), "stop_sequence": None},
             usage={"output_tokens": usage["output_tokens"]})
    yield ev("message_stop")

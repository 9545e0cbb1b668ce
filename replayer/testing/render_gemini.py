"""Renders a scripted reply as Gemini `GenerateContentResponse` JSON and `alt=sse` streams,
as the `google-genai` SDK reads them: whole response chunks (text in pieces, each function
call whole), `finishReason` and the full `usageMetadata` on the last chunk, no end marker,
events separated by CRLF pairs as the real endpoint sends them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from recorder.session import Message
from replayer.testing.render_openai import pieces
from replayer.wire.codec_helpers import arguments_object

_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"}
SIGNATURE = "c2ltdWxhdGVkLXNpZ25hdHVyZQ=="
"""The thought signature the fake puts on a thinking reply's first function call."""


def _usage(usage: Mapping[str, int], *, final: bool = True) -> dict[str, Any]:
    i = usage["input_tokens"]
    o = usage["output_tokens"] if final else 0
    out: dict[str, Any] = {"promptTokenCount": i, "totalTokenCount": i + o,
                           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": i}]}
    if final:
        out["candidatesTokenCount"] = o
    return out


def _parts(msg: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": p.text, "thought": True} for p in msg.content
                                   if p.type == "thinking"]
    if msg.text or not msg.tool_calls:
        parts.append({"text": msg.text})
    for i, c in enumerate(msg.tool_calls):
        part: dict[str, Any] = {"functionCall": {"id": c.id, "name": c.name,
                                                 "args": arguments_object(c)}}
        if i == 0 and any(p.type == "thinking" for p in msg.content):
            part["thoughtSignature"] = SIGNATURE  # thinking models sign their first call
        parts.append(part)
    return parts


def _response(rid: str, model: str, parts: list[dict[str, Any]], usage: dict[str, Any],
              finish: str | None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish is not None:
        cand["finishReason"] = finish
    cand["index"] = 0
    return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
            "responseId": rid}


def generate_json(rid: str, model: str, msg: Message, usage: Mapping[str, int]
                  ) -> dict[str, Any]:
    return _response(rid, model, _parts(msg), _usage(usage),
                     _FINISH.get(msg.finish_reason or "stop", "STOP"))


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\r\n\r\n"


def generate_stream(rid: str, model: str, msg: Message, usage: Mapping[str, int], *,
                    chunk: int) -> Iterator[bytes]:
    partial = _usage(usage, final=False)
    pending: list[dict[str, Any]] = []
    for part in _parts(msg):
        if "text" in part:
            for piece in pieces(part["text"], chunk):
                pending.append({**part, "text": piece})
        else:
            pending.append(part)
    finish = _FINISH.get(msg.finish_reason or "stop", "STOP")
    for i, part in enumerate(pending):
        last = i == len(pending) - 1
        yield _event(_response(rid, model, [part], _usage(usage) if last else partial,
                               finish if last else None))

"""Anthropic Messages <-> provider-neutral messages (both directions, both sides).

System messages travel in `system`; tool results are `tool_result` blocks inside a user
message (consecutive results share one), and same-role neighbours are merged because the API
expects user and assistant to alternate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.session import ContentPart, Message, ToolCall, ToolDef, ToolResult
from replayer.memo import IdentityMemo
from replayer.wire.common import (
    alternating_turns,
    arguments_object,
    dumps,
    parse_call,
    portable_params,
    select,
    text_parts,
    tool_text,
)

API = "anthropic"
PATH = "/v1/messages"
DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires `max_tokens`; used when the recording did not say."""

_STOP = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
         "max_tokens": "length", "refusal": "content_filter", "pause_turn": "stop"}


# -- neutral -> wire (client side) ----------------------------------------------------------

def _blocks_of(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        is_error = bool(m.result and m.result.is_error)
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id or "",
                 "content": tool_text(m), **({"is_error": True} if is_error else {})}]
    blocks: list[dict[str, Any]] = []
    for p in m.content:
        if p.type in ("text", "refusal") and p.text:
            blocks.append({"type": "text", "text": p.text})
        elif p.type == "image" and m.role == "user":
            blocks.append({"type": "image", "source": {"type": "url", "url": str(p.data)}})
    if m.role == "assistant":
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(c)}
                   for c in m.tool_calls]
    return blocks


_blocks: IdentityMemo[Message, list[dict[str, Any]]] = IdentityMemo(_blocks_of)
"""Wire form per message object, computed once (recorded prefixes repeat every step)."""


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "tool", "name": choice["name"]}
    return {"required": {"type": "any"}, "none": {"type": "none"}}.get(choice, {"type": "auto"})


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *, stream: bool = False
                   ) -> dict[str, Any]:
    """The JSON body of a Messages request for this conversation."""
    p = portable_params(params)
    system = "\n\n".join(m.text for m in messages if m.role == "system")
    turns = alternating_turns(messages, "assistant", "content", _blocks)
    body: dict[str, Any] = {"model": model,
                            "max_tokens": int(p.get("max_tokens") or DEFAULT_MAX_TOKENS),
                            "messages": turns}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [{"name": t.name, "description": t.description,
                          "input_schema": t.input_schema or {"type": "object", "properties": {}}}
                         for t in tools]
    body.update(select(p, ("temperature", "top_p")))
    if "stop" in p:
        body["stop_sequences"] = [p["stop"]] if isinstance(p["stop"], str) else list(p["stop"])
    if "tool_choice" in p and tools:
        body["tool_choice"] = _tool_choice(p["tool_choice"])
    if stream:
        body["stream"] = True
    return body


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a Messages API response."""
    content: list[ContentPart] = []
    calls: list[ToolCall] = []
    for block in data["content"]:
        kind = block.get("type")
        if kind == "text":
            content.append(ContentPart(text=block.get("text", "")))
        elif kind == "thinking":
            content.append(ContentPart(type="thinking", text=block.get("thinking", "")))
        elif kind == "redacted_thinking":
            content.append(ContentPart(type="redacted_thinking", data=block.get("data")))
        elif kind == "tool_use":
            calls.append(ToolCall(id=block["id"], name=block["name"], arguments=block.get("input")))
    usage = data.get("usage") or {}
    stop = data.get("stop_reason") or ""
    return Message(role="assistant", content=content, tool_calls=calls, origin="generated",
                   finish_reason=_STOP.get(stop, stop or None),
                   usage={"input_tokens": int(usage.get("input_tokens") or 0),
                          "output_tokens": int(usage.get("output_tokens") or 0),
                          "cached_tokens": int(usage.get("cache_read_input_tokens") or 0)})


# -- wire -> neutral (server side) ----------------------------------------------------------

def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if b.get("type") == "text")


def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a Messages request body."""
    messages: list[Message] = []
    system = body.get("system")
    if system:
        messages.append(Message(role="system", content=text_parts(_result_text(system))))
    names: dict[str, str] = {}
    for turn in body.get("messages") or []:
        role = turn.get("role", "user")
        content = turn.get("content")
        if isinstance(content, str):
            messages.append(Message(role=role, content=text_parts(content)))
            continue
        parts: list[ContentPart] = []
        calls: list[ToolCall] = []
        for b in content or []:
            kind = b.get("type")
            if kind == "text":
                parts.append(ContentPart(text=b.get("text", "")))
            elif kind == "thinking":
                parts.append(ContentPart(type="thinking", text=b.get("thinking", "")))
            elif kind == "image":
                parts.append(ContentPart(type="image", data=(b.get("source") or {}).get("url")))
            elif kind == "tool_use":
                names[b.get("id", "")] = b.get("name", "")
                calls.append(parse_call(b.get("id", ""), b.get("name", ""), b.get("input")))
            elif kind == "tool_result":
                text = _result_text(b.get("content"))
                messages.append(Message(
                    role="tool", content=text_parts(text), tool_call_id=b.get("tool_use_id"),
                    name=names.get(b.get("tool_use_id", "")),
                    result=ToolResult(content=text, is_error=bool(b.get("is_error")))))
        if parts or calls:
            messages.append(Message(role=role, content=parts, tool_calls=calls))
    tools = [ToolDef(name=t["name"], description=t.get("description") or "",
                     input_schema=t.get("input_schema") or {})
             for t in body.get("tools") or [] if "name" in t]
    params = {k: v for k, v in body.items() if k not in ("system", "messages")}
    if "stop_sequences" in params:
        params["stop"] = params.pop("stop_sequences")
    return messages, tools, portable_params(params)


def canonical_input(call: ToolCall) -> str:
    """The JSON text of a tool_use input, for streaming it as `input_json_delta` pieces."""
    return dumps(arguments_object(call))

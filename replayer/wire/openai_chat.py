"""OpenAI Chat Completions <-> provider-neutral messages (both directions, both sides).

The replayer's client uses `encode_request` and `decode_response`; the scripted fake model
server uses `decode_request` and `encode_response` (its stream lives in `replayer.testing`).
`decode_response` reads what OpenAI-compatible servers send too (vLLM, llama.cpp, Ollama,
LiteLLM): no `usage`, tool calls without `id` or in `index` order, arguments as an object,
`finish_reason` spelled `eos` / `tool_call` / null — with the recorder's rules
(`recorder.protocols.openai_chat`), so a recording and a replay of one server agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.protocols.openai_chat import finish_reason, missing_call_id
from recorder.session import ContentPart, Message, ToolCall, ToolDef, ToolResult
from replayer.memo import IdentityMemo
from replayer.wire.common import (
    arguments_text,
    json_text,
    parse_call,
    portable_params,
    select,
    splice_body,
    text_parts,
    tool_text,
)

API = "openai-chat"
PATH = "/chat/completions"

# -- neutral -> wire (client side) ----------------------------------------------------------

def _message_of(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": tool_text(m)}
    if m.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": m.text or None}
        if m.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": arguments_text(c)}}
                for c in m.tool_calls
            ]
        return out
    images = [p for p in m.content if p.type == "image"]
    if images and m.role == "user":
        parts: list[dict[str, Any]] = []
        for p in m.content:
            if p.type == "text":
                parts.append({"type": "text", "text": p.text})
            elif p.type == "image":
                parts.append({"type": "image_url", "image_url": {"url": str(p.data)}})
        return {"role": "user", "content": parts}
    return {"role": m.role, "content": m.text}


_message: IdentityMemo[Message, dict[str, Any]] = IdentityMemo(_message_of)
"""Wire form per message object, computed once (recorded prefixes repeat every step)."""

_message_text: IdentityMemo[Message, str] = IdentityMemo(lambda m: json_text(_message(m)))
"""Its compact JSON text, likewise."""


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _tool_of(t: ToolDef) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": t.name, "description": t.description,
        "parameters": t.input_schema or {"type": "object", "properties": {}}}}


# a schema may hold any float, so a null in orjson's text sends the tool the standard way
_tool_text: IdentityMemo[ToolDef, str] = IdentityMemo(
    lambda t: json_text(_tool_of(t), finite=None))


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *, stream: bool = False
                   ) -> dict[str, Any]:
    """The JSON body of a Chat Completions request for this conversation."""
    p = portable_params(params)
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in messages]}
    if tools:
        body["tools"] = [_tool_of(t) for t in tools]
    body.update(select(p, ("temperature", "top_p", "stop", "seed", "parallel_tool_calls",
                           "reasoning_effort", "user")))
    if "max_tokens" in p:
        body["max_completion_tokens"] = p["max_tokens"]
    if "tool_choice" in p and tools:
        body["tool_choice"] = _tool_choice(p["tool_choice"])
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def encode_body(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, *, stream: bool = False) -> bytes:
    """`encode_request` as the bytes a client sends (compact JSON), each message's and tool's
    text serialised once per object rather than once per request."""
    body = encode_request(model, (), tools, params, stream=stream)
    return splice_body(body, {"messages": _message_text.many(messages),
                              "tools": _tool_text.many(tools)})


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a Chat Completions response (raises KeyError/TypeError if the
    body does not have the shape)."""
    choice = data["choices"][0]
    msg = choice["message"]
    content: list[ContentPart] = []
    if msg.get("reasoning_content"):
        content.append(ContentPart(type="thinking", text=msg["reasoning_content"]))
    if msg.get("content"):
        content.append(ContentPart(text=msg["content"]))
    if msg.get("refusal"):
        content.append(ContentPart(type="refusal", text=msg["refusal"]))
    calls = _calls(msg.get("tool_calls") or [])
    usage = data.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    # a complete answer without a finish reason stopped (or called tools) of its own accord
    finish = finish_reason(choice.get("finish_reason"), bool(calls)) or "stop"
    return Message(
        role="assistant", content=content, tool_calls=calls, origin="generated",
        finish_reason=finish,
        usage={"input_tokens": int(usage.get("prompt_tokens") or 0),
               "output_tokens": int(usage.get("completion_tokens") or 0),
               "cached_tokens": int(cached)},
    )


def _calls(wire: list[dict[str, Any]]) -> list[ToolCall]:
    """Tool calls in `index` order when the server numbered them; a call without an `id` gets
    the one the recorder would give it; arguments as an object are taken as they are."""
    if all(isinstance(c.get("index"), int) for c in wire):
        wire = sorted(wire, key=lambda c: c["index"])
    calls = []
    for i, c in enumerate(wire):
        fn = c["function"]
        raw = fn.get("arguments")
        raw = "" if raw is None else raw
        calls.append(parse_call(c.get("id") or missing_call_id(fn["name"], raw, i), fn["name"],
                                raw))
    return calls


# -- wire -> neutral (server side) ----------------------------------------------------------

def _content_text(content: Any) -> list[ContentPart]:
    if isinstance(content, str):
        return text_parts(content)
    parts: list[ContentPart] = []
    for p in content or []:
        if p.get("type") == "text":
            parts.append(ContentPart(text=p.get("text", "")))
        elif p.get("type") == "image_url":
            parts.append(ContentPart(type="image", data=(p.get("image_url") or {}).get("url")))
    return parts


def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a Chat Completions request body."""
    names: dict[str, str] = {}
    messages: list[Message] = []
    for m in body.get("messages") or []:
        role = m.get("role")
        if role == "tool":
            text = "".join(p.text for p in _content_text(m.get("content")))
            call_id = m.get("tool_call_id")
            messages.append(Message(role="tool", content=text_parts(text), tool_call_id=call_id,
                                    name=names.get(call_id or ""), result=ToolResult(content=text)))
            continue
        calls: list[ToolCall] = []
        for c in m.get("tool_calls") or []:
            fn = c.get("function") or {}
            calls.append(parse_call(c.get("id", ""), fn.get("name", ""), fn.get("arguments", "")))
            names[c.get("id", "")] = fn.get("name", "")
        messages.append(Message(role="system" if role == "developer" else role,
                                content=_content_text(m.get("content")), tool_calls=calls,
                                name=m.get("name")))
    tools = [ToolDef(name=t["function"]["name"],
                     description=t["function"].get("description") or "",
                     input_schema=t["function"].get("parameters") or {})
             for t in body.get("tools") or [] if t.get("type") == "function"]
    params = {k: v for k, v in body.items()
              if k not in ("model", "messages", "tools", "stream", "stream_options")}
    return messages, tools, portable_params(params)

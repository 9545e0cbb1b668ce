"""OpenAI Responses API <-> provider-neutral messages (both directions, both sides).

Leading system messages travel as `instructions`; later ones as `developer` input items.
Requests are sent with `store: false`, so every request carries the whole conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.session import ContentPart, Message, ToolCall, ToolDef, ToolResult
from replayer.memo import IdentityMemo
from replayer.wire.common import (
    arguments_text,
    parse_call,
    portable_params,
    select,
    text_parts,
    tool_text,
)

API = "openai-responses"
PATH = "/responses"


# -- neutral -> wire (client side) ----------------------------------------------------------

def _items_of(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "function_call_output", "call_id": m.tool_call_id or "",
                 "output": tool_text(m)}]
    if m.role == "assistant":
        items: list[dict[str, Any]] = []
        if m.text:
            items.append({"role": "assistant", "content": m.text})
        items += [{"type": "function_call", "call_id": c.id, "name": c.name,
                   "arguments": arguments_text(c)} for c in m.tool_calls]
        return items
    role = "developer" if m.role == "system" else m.role
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if p.type == "text":
            parts.append({"type": "input_text", "text": p.text})
        elif p.type == "image" and m.role == "user":
            parts.append({"type": "input_image", "image_url": str(p.data), "detail": "auto"})
    return [{"role": role, "content": parts}]


_items: IdentityMemo[Message, list[dict[str, Any]]] = IdentityMemo(_items_of)
"""Wire form per message object, computed once (recorded prefixes repeat every step)."""


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "function", "name": choice["name"]}
    return choice


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *, stream: bool = False
                   ) -> dict[str, Any]:
    """The JSON body of a Responses request for this conversation."""
    p = portable_params(params)
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    body: dict[str, Any] = {"model": model, "store": False}
    if lead:
        body["instructions"] = "\n\n".join(m.text for m in messages[:lead])
    body["input"] = [item for m in messages[lead:] for item in _items(m)]
    if tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": t.input_schema or {"type": "object", "properties": {}},
                          "strict": False} for t in tools]
    body.update(select(p, ("temperature", "top_p", "parallel_tool_calls", "metadata", "user")))
    if "max_tokens" in p:
        body["max_output_tokens"] = p["max_tokens"]
    if "reasoning_effort" in p:
        body["reasoning"] = {"effort": p["reasoning_effort"]}
    if "tool_choice" in p and tools:
        body["tool_choice"] = _tool_choice(p["tool_choice"])
    if stream:
        body["stream"] = True
    return body


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a Responses API response."""
    content: list[ContentPart] = []
    calls: list[ToolCall] = []
    for item in data["output"]:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    content.append(ContentPart(text=part.get("text", "")))
                elif part.get("type") == "refusal":
                    content.append(ContentPart(type="refusal", text=part.get("refusal", "")))
        elif kind == "function_call":
            calls.append(parse_call(item["call_id"], item["name"], item.get("arguments", "")))
        elif kind == "reasoning":
            text = "".join(s.get("text", "") for s in item.get("summary") or [])
            if text:
                content.append(ContentPart(type="thinking", text=text))
    status = data.get("status")
    reason = (data.get("incomplete_details") or {}).get("reason")
    finish = ("length" if reason == "max_output_tokens" else "content_filter" if reason
              else "tool_calls" if calls else "stop" if status in (None, "completed") else status)
    usage = data.get("usage") or {}
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return Message(role="assistant", content=content, tool_calls=calls, origin="generated",
                   finish_reason=finish,
                   usage={"input_tokens": int(usage.get("input_tokens") or 0),
                          "output_tokens": int(usage.get("output_tokens") or 0),
                          "cached_tokens": int(cached)})


# -- wire -> neutral (server side) ----------------------------------------------------------

def _parts(content: Any) -> list[ContentPart]:
    if isinstance(content, str):
        return text_parts(content)
    parts: list[ContentPart] = []
    for p in content or []:
        if p.get("type") in ("input_text", "output_text", "text"):
            parts.append(ContentPart(text=p.get("text", "")))
        elif p.get("type") == "input_image":
            parts.append(ContentPart(type="image", data=p.get("image_url")))
    return parts


def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a Responses request body."""
    messages: list[Message] = []
    if body.get("instructions"):
        messages.append(Message(role="system", content=text_parts(str(body["instructions"]))))
    raw = body.get("input") or []
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    names: dict[str, str] = {}
    for item in raw:
        kind = item.get("type", "message")
        if kind == "function_call":
            call = parse_call(item.get("call_id", ""), item.get("name", ""),
                              item.get("arguments", ""))
            names[call.id] = call.name
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":  # calls join the assistant turn
                messages[-1] = last.model_copy(update={"tool_calls": [*last.tool_calls, call]})
            else:
                messages.append(Message(role="assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            out = item.get("output")
            text = out if isinstance(out, str) else "".join(p.text for p in _parts(out))
            messages.append(Message(role="tool", content=text_parts(text),
                                    tool_call_id=item.get("call_id"),
                                    name=names.get(item.get("call_id", "")),
                                    result=ToolResult(content=text)))
        elif kind == "message":
            role = item.get("role", "user")
            messages.append(Message(role="system" if role == "developer" else role,
                                    content=_parts(item.get("content"))))
    tools = [ToolDef(name=t["name"], description=t.get("description") or "",
                     input_schema=t.get("parameters") or {})
             for t in body.get("tools") or [] if t.get("type") == "function"]
    params = {k: v for k, v in body.items() if k not in ("instructions", "input", "reasoning")}
    if isinstance(body.get("reasoning"), dict) and "effort" in body["reasoning"]:
        params["reasoning_effort"] = body["reasoning"]["effort"]
    return messages, tools, portable_params(params)

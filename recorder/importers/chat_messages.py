"""Chat messages as trace stores log them, in whichever dialect, → neutral messages.

Trace stores keep the messages the framework had in hand, so one file can mix:
- OpenAI chat (`role`, `content` string or parts, `tool_calls` with `function`, `tool_call_id`);
- Anthropic (`content` blocks `text`, `tool_use`, `tool_result`, `thinking`);
- LangChain, serialized (`{"lc": 1, "type": "constructor", "id": [..., "AIMessage"],
  "kwargs": {...}}`), as `messages_to_dict` writes it (`{"type": "ai", "data": {...}}`) or
  flat (`{"type": "human", "content": ...}`), with `tool_calls` as `{name, args, id}`;
- Inspect AI (`tool_calls` as `{id, function: NAME, arguments: {...}}`, `reasoning` parts,
  tool messages with `function` and `error`).
The protocol parsers of the recorder do the OpenAI and Anthropic work; this module only picks
the dialect and handles the other two. Anything it cannot place is reported to `unmapped`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recorder.protocols import anthropic_messages, openai_chat
from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import tool_arguments

Unmapped = Callable[[str], None]
"""Called with what could not be mapped (`message of role 'critic'`)."""

_LC_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant",
             "system": "system", "developer": "system", "tool": "tool", "function": "tool",
             "chat": "user", "generic": "user"}
_LC_CLASSES = {"HumanMessage": "human", "HumanMessageChunk": "human", "AIMessage": "ai",
               "AIMessageChunk": "ai", "SystemMessage": "system", "ToolMessage": "tool",
               "ToolMessageChunk": "tool", "FunctionMessage": "function",
               "ChatMessage": "chat", "ChatMessageChunk": "chat"}
_ANTHROPIC_BLOCKS = {"tool_use", "tool_result", "thinking", "redacted_thinking"}


def text_of(value: Any) -> str:
    """Text a tool or model produced, whatever its shape (strings as they are, else JSON)."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                       for p in value):
        return "".join(str(p.get("text", "")) for p in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def content_parts(content: Any) -> list[LPart]:
    """Content in any dialect: strings, OpenAI parts, Inspect `reasoning`, Anthropic blocks."""
    if not isinstance(content, list):
        return openai_chat.content_parts(content)
    parts: list[LPart] = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "reasoning" and isinstance(p, dict):  # Inspect ContentReasoning
            if p.get("redacted"):
                parts.append(LPart(type="redacted_thinking", data={"data": p.get("reasoning")}))
            else:
                parts.append(LPart(type="thinking", text=str(p.get("reasoning") or ""),
                                   data={"signature": p.get("signature")}))
        elif isinstance(p, dict) and (kind in ("thinking", "redacted_thinking", "document")
                                      or (kind == "image" and "source" in p)):
            parts.append(anthropic_messages._block_part(p))
        elif isinstance(p, dict) and kind == "image":  # Inspect ContentImage
            parts.append(LPart(type="image", data={"url": p.get("image"),
                                                   "detail": p.get("detail")}))
        else:
            parts.extend(openai_chat.content_parts([p]))
    return parts


def _langchain_calls(data: dict[str, Any]) -> list[LCall]:
    calls: list[LCall] = []
    for i, tc in enumerate(data.get("tool_calls") or []):
        if isinstance(tc, dict):
            args = tc.get("args", tc.get("arguments"))
            if isinstance(tc.get("function"), dict):  # OpenAI style inside LangChain
                args = tc["function"].get("arguments")
            parsed, raw = tool_arguments(args)
            name = tc.get("name") or (tc.get("function") or {}).get("name", "")
            calls.append(LCall(id=str(tc.get("id") or f"call_{i}"), name=str(name),
                               arguments=parsed, arguments_raw=raw))
    for tc in data.get("invalid_tool_calls") or []:
        if isinstance(tc, dict):
            parsed, raw = tool_arguments(tc.get("args"))
            calls.append(LCall(id=str(tc.get("id") or f"call_{len(calls)}"),
                               name=str(tc.get("name") or ""), arguments=parsed,
                               arguments_raw=raw))
    if not calls:
        extra = data.get("additional_kwargs") or {}
        if isinstance(extra, dict) and extra.get("tool_calls"):
            calls = openai_chat._tool_calls(extra["tool_calls"])
        elif isinstance(extra, dict) and isinstance(extra.get("function_call"), dict):
            fc = extra["function_call"]
            parsed, raw = tool_arguments(fc.get("arguments"))
            calls = [LCall(id="function_call", name=str(fc.get("name", "")), arguments=parsed,
                           arguments_raw=raw)]
    return calls


def _langchain(kind: str, data: dict[str, Any], names: dict[str, str],
               unmapped: Unmapped) -> list[LMessage]:
    role = _LC_ROLES.get(str(data.get("role") or kind) if kind == "chat" else kind)
    if role is None:
        unmapped(f"LangChain message of type {kind!r}")
        return []
    content = data.get("content")
    if role == "assistant":
        calls = _langchain_calls(data)
        blocks = content if isinstance(content, list) else None
        if blocks is not None and calls:  # Anthropic keeps tool_use blocks in content too
            blocks = [b for b in blocks if not (isinstance(b, dict)
                                                and b.get("type") == "tool_use")]
        parts = content_parts(blocks if blocks is not None else content)
        if not calls and blocks and any(isinstance(b, dict) and b.get("type") == "tool_use"
                                        for b in blocks):
            return anthropic_messages.to_messages({"role": "assistant", "content": blocks},
                                                  names)
        for c in calls:
            names[c.id] = c.name
        meta = data.get("response_metadata") or {}
        usage = data.get("usage_metadata") or {}
        return [LMessage(role="assistant", content=parts, tool_calls=calls,
                         finish_reason=(meta.get("finish_reason") or meta.get("stop_reason"))
                         if isinstance(meta, dict) else None,
                         usage={k: int(v) for k, v in usage.items()
                                if isinstance(v, int)} if isinstance(usage, dict) else {})]
    if role == "tool":
        call_id = data.get("tool_call_id")
        name = data.get("name") or names.get(str(call_id or ""))
        parts = content_parts(content)
        text = "".join(p.text for p in parts) if parts else text_of(content or "")
        return [LMessage(role="tool", content=parts or [LPart(text=text)],
                         tool_call_id=str(call_id) if call_id else None,
                         name=str(name) if name else None,
                         result=LResult(content=text, is_error=data.get("status") == "error"))]
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result"
                                         for b in content):
        return anthropic_messages.to_messages({"role": "user", "content": content}, names)
    return [LMessage(role=role, content=content_parts(content))]


def _inspect_assistant(m: dict[str, Any], names: dict[str, str]) -> LMessage:
    calls = []
    for i, tc in enumerate(m.get("tool_calls") or []):
        if isinstance(tc, dict):
            parsed, raw = tool_arguments(tc.get("arguments"))
            call = LCall(id=str(tc.get("id") or f"call_{i}"), name=str(tc.get("function", "")),
                         arguments=parsed, arguments_raw=raw)
            names[call.id] = call.name
            calls.append(call)
    return LMessage(role="assistant", content=content_parts(m.get("content")), tool_calls=calls)


def _inspect_tool(m: dict[str, Any], names: dict[str, str]) -> LMessage:
    parts = content_parts(m.get("content"))
    text = "".join(p.text for p in parts)
    error = m.get("error")
    if isinstance(error, dict) and error.get("message") and not text:
        text = str(error["message"])
        parts = [LPart(text=text)]
    call_id = m.get("tool_call_id")
    name = m.get("function") or names.get(str(call_id or ""))
    return LMessage(role="tool", content=parts, tool_call_id=str(call_id) if call_id else None,
                    name=str(name) if name else None,
                    result=LResult(content=text, is_error=bool(error)))


def to_messages(m: Any, names: dict[str, str], unmapped: Unmapped) -> list[LMessage]:
    """One logged message as neutral messages (a user message carrying Anthropic tool results
    becomes tool messages); `names` maps call ids to tool names seen so far."""
    if isinstance(m, str):
        return [LMessage(role="user", content=[LPart(text=m)])] if m else []
    if not isinstance(m, dict):
        unmapped(f"message that is a {type(m).__name__}")
        return []
    if m.get("lc") is not None and isinstance(m.get("kwargs"), dict):
        cls = (m.get("id") or ["?"])[-1]
        return _langchain(_LC_CLASSES.get(str(cls), str(cls)), m["kwargs"], names, unmapped)
    kind = m.get("type")
    if "role" not in m and isinstance(kind, str) and kind in _LC_ROLES:
        data = m["data"] if isinstance(m.get("data"), dict) else m
        return _langchain(kind, data, names, unmapped)
    role = m.get("role")
    if role not in ("system", "developer", "user", "assistant", "tool", "function"):
        unmapped(f"message of role {role!r}")
        return []
    content = m.get("content")
    calls = m.get("tool_calls")
    if isinstance(calls, list) and calls and isinstance(calls[0], dict) \
            and isinstance(calls[0].get("function"), str):
        return [_inspect_assistant(m, names)]
    if role == "tool" and ("function" in m or "error" in m):
        return [_inspect_tool(m, names)]
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type")
                                         in _ANTHROPIC_BLOCKS for b in content):
        return anthropic_messages.to_messages({"role": "assistant" if role == "assistant"
                                               else "user", "content": content}, names)
    if role == "assistant" and isinstance(calls, list) and calls and isinstance(
            calls[0], dict) and "args" in calls[0]:
        return _langchain("ai", m, names, unmapped)
    msg = openai_chat.to_message(m, names)
    if isinstance(content, list):  # Inspect reasoning / images the chat parser keeps as JSON
        msg.content = content_parts(content)
    return [msg]


def conversation(messages: Any, unmapped: Unmapped) -> list[LMessage]:
    """A logged message list as neutral messages."""
    names: dict[str, str] = {}
    out: list[LMessage] = []
    for m in messages if isinstance(messages, list) else [messages]:
        out.extend(to_messages(m, names, unmapped))
    return out

"""OpenTelemetry GenAI messages, in each shape instrumentations wrote them, → neutral messages.

- the current semantic conventions: `gen_ai.system_instructions`, `gen_ai.input.messages`,
  `gen_ai.output.messages` (JSON messages of typed parts);
- the older message events `gen_ai.{system,user,assistant,tool}.message` and `gen_ai.choice`,
  their fields in the event body (log records) or in attributes;
- OpenLLMetry's indexed attributes `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`.

What has no place in a session (audio, server-side tool calls, a message whose content was not
captured) is reported through `note(what)`, never turned into an empty message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from recorder.importers.otlp import SpanEvent
from recorder.importers.span_calls import as_text, parse_json
from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import tool_arguments

Note = Callable[[str], None]
"""Records one thing that could not be mapped, named (`message part of type audio`)."""

Conversation = tuple[list[LMessage], list[LMessage]]
"""The request's messages and the answer (one message per choice)."""

_ROLES = {"system": "system", "developer": "system", "user": "user", "human": "user",
          "assistant": "assistant", "model": "assistant", "ai": "assistant", "tool": "tool",
          "function": "tool", "ipython": "tool"}
_TEXT = ("text", "input_text", "output_text")
_INDEXED = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
_EVENT = re.compile(r"^gen_ai\.(system|user|assistant|tool)\.message$")


def role_of(raw: Any, note: Note) -> str:
    role = _ROLES.get(str(raw).lower()) if raw is not None else None
    if role is None:
        note(f"message role `{raw}` (imported as user)")
        return "user"
    return role


def call_of(id_: Any, name: Any, arguments: Any) -> LCall:
    args, raw = tool_arguments(arguments)
    return LCall(id=str(id_ or ""), name=str(name or ""), arguments=args, arguments_raw=raw)


def media_part(p: dict[str, Any], kind: str, note: Note) -> LPart | None:
    """An image as the URL replays send; other media cannot be replayed."""
    modality = str(p.get("modality") or p.get("mime_type") or "").split("/")[0]
    if modality == "image" and kind in ("uri", "blob"):
        url = p.get("uri") if kind == "uri" else (
            f"data:{p.get('mime_type') or 'image/png'};base64,{p.get('content', '')}")
        return LPart(type="image", data=url)
    note(f"message part of type {kind} ({modality or 'unknown modality'})")
    return None


def build(role: str, content: list[LPart], calls: list[LCall], tools: list[LMessage],
          note: Note, finish: Any = None, empty: str = "message without content") -> list[LMessage]:
    """The message(s) one source message becomes: its tool results, then itself unless it
    is left with nothing (then noted as `empty`)."""
    out = list(tools)
    if role == "tool":
        return out
    if content or calls:
        out.append(LMessage(role=role, content=content, tool_calls=calls,
                            finish_reason=str(finish) if finish else None))
    elif not tools:
        note(f"{role} {empty}")
    return out


def parts_message(raw_role: Any, parts: Any, note: Note, finish: Any = None) -> list[LMessage]:
    """A semantic-convention message (role + typed parts)."""
    role = role_of(raw_role, note)
    content: list[LPart] = []
    calls: list[LCall] = []
    tools: list[LMessage] = []
    for p in parts if isinstance(parts, list) else []:
        kind = p.get("type") if isinstance(p, dict) else None
        if not isinstance(p, dict):
            content.append(LPart(text=as_text(p)))
        elif kind == "text":
            if p.get("content") not in (None, ""):
                content.append(LPart(text=as_text(p.get("content"))))
        elif kind in ("reasoning", "thinking"):
            content.append(LPart(type="thinking", text=as_text(p.get("content", ""))))
        elif kind == "tool_call":
            calls.append(call_of(p.get("id"), p.get("name"), p.get("arguments")))
        elif kind == "tool_call_response":
            tools.append(tool_message(p.get("id"), None, p.get("response")))
        elif kind in ("uri", "blob", "file"):
            media = media_part(p, kind, note)
            if media is not None:
                content.append(media)
        else:
            note(f"message part of type {kind}")
    return build(role, content, calls, tools, note, finish)


def tool_message(call_id: Any, name: Any, response: Any) -> LMessage:
    value = parse_json(response)
    text = as_text(response) if response is not None else ""
    structured = value if not isinstance(value, str | type(None)) else None
    return LMessage(role="tool", tool_call_id=str(call_id) if call_id else None,
                    name=str(name) if name else None, content=[LPart(text=text)],
                    result=LResult(content=text, structured=structured))


def content_parts(value: Any, note: Note) -> tuple[list[LPart], list[LCall]]:
    """Free-form message content: a string, or a list of provider content blocks (a JSON
    string of one, as OpenLLMetry writes them)."""
    value = parse_json(value) if isinstance(value, str) and value[:1] == "[" else value
    if value is None or value == "":
        return [], []
    if not isinstance(value, list):
        return [LPart(text=as_text(value))], []
    parts: list[LPart] = []
    calls: list[LCall] = []
    for item in value:
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            parts.append(LPart(text=as_text(item)))
        elif kind in _TEXT or (kind is None and "text" in item):
            parts.append(LPart(text=as_text(item.get("text", item.get("content", "")))))
        elif kind in ("thinking", "reasoning"):
            parts.append(LPart(type="thinking", text=as_text(item.get("thinking") or
                                                             item.get("text") or "")))
        elif kind == "image_url":
            url = item.get("image_url")
            parts.append(LPart(type="image", data=url.get("url") if isinstance(url, dict)
                               else url))
        elif kind == "tool_use":
            calls.append(call_of(item.get("id"), item.get("name"), item.get("input")))
        else:
            note(f"message content block of type {kind}")
    return parts, calls


def flat_message(raw_role: Any, fields: dict[str, Any], note: Note,
                 empty: str = "message without content") -> list[LMessage]:
    """A message from flat fields (an event body, indexed attributes): `content`,
    `tool_calls` (`id`, `function.name` / `function.arguments`), the answered call's `id`."""
    role = role_of(raw_role, note)
    content = fields.get("content")
    if role == "tool":
        if content in (None, ""):
            note(f"tool {empty}")
            return []
        return [tool_message(fields.get("id") or fields.get("tool_call_id"),
                             fields.get("name"), content)]
    parts, calls = content_parts(content, note)
    raw_calls = parse_json(fields.get("tool_calls")) or []
    for c in raw_calls if isinstance(raw_calls, list) else []:
        fn = c.get("function", c) if isinstance(c, dict) else {}
        fn = fn if isinstance(fn, dict) else {}
        calls.append(call_of(c.get("id") if isinstance(c, dict) else None, fn.get("name"),
                             fn.get("arguments")))
    legacy = fields.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        calls.append(call_of(None, legacy.get("name"), legacy.get("arguments")))
    return build(role, parts, calls, [], note, fields.get("finish_reason"), empty)


def semconv_messages(a: dict[str, Any], note: Note) -> Conversation | None:
    """From `gen_ai.system_instructions` / `gen_ai.input.messages` / `gen_ai.output.messages`."""
    if "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a:
        return None
    inputs: list[LMessage] = []
    system = parse_json(a.get("gen_ai.system_instructions"))
    if isinstance(system, list) and system:
        inputs.extend(parts_message("system", system, note))
    elif isinstance(system, str) and system:
        inputs.append(LMessage(role="system", content=[LPart(text=system)]))
    for m in _messages(a.get("gen_ai.input.messages"), "gen_ai.input.messages"):
        inputs.extend(parts_message(m.get("role", "user"), m.get("parts"), note))
    outputs: list[LMessage] = []
    for m in _messages(a.get("gen_ai.output.messages"), "gen_ai.output.messages"):
        outputs.extend(parts_message(m.get("role", "assistant"), m.get("parts"), note,
                                     m.get("finish_reason")))
    return inputs, outputs


def _messages(value: Any, key: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    parsed = parse_json(value)
    if not isinstance(parsed, list) or not all(isinstance(m, dict) for m in parsed):
        raise ValueError(f"has a `{key}` that is not a JSON list of messages")
    return parsed


def event_messages(events: list[SpanEvent], note: Note) -> Conversation | None:
    """From message events: fields in the body (or an `event.body` attribute) over the
    attributes (instrumentations before bodies put them there)."""
    inputs: list[LMessage] = []
    choices: dict[int, list[LMessage]] = {}
    seen = False
    for e in events:
        body = parse_json(e.body if e.body is not None else
                          e.attrs.get("event.body", e.attrs.get("gen_ai.event.content")))
        fields = {**e.attrs, **(body if isinstance(body, dict) else
                                {"content": body} if body is not None else {})}
        m = _EVENT.fullmatch(e.name)
        if m:
            seen = True
            inputs.extend(flat_message(fields.get("role", m.group(1)), fields, note,
                                       "message event without content"))
        elif e.name == "gen_ai.choice":
            seen = True
            msg = parse_json(fields.get("message")) or {}
            msg = msg if isinstance(msg, dict) else {"content": msg}
            # the spec puts `tool_calls` beside `message`; some SDKs put them inside it
            merged = {"tool_calls": fields.get("tool_calls"), **msg,
                      "finish_reason": fields.get("finish_reason")}
            index = int(fields.get("index") or 0)
            choices.setdefault(index, []).extend(flat_message(
                msg.get("role", "assistant"), merged, note, "choice event without content"))
        elif e.name.startswith("gen_ai.") and e.name != (
                "gen_ai.client.inference.operation.details"):
            note(f"event {e.name}")
    outputs = [m for i in sorted(choices) for m in choices[i][:1]]
    return (inputs, outputs) if seen else None


def indexed_messages(a: dict[str, Any], note: Note) -> Conversation | None:
    """From OpenLLMetry's `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` attributes."""
    found: dict[str, dict[int, dict[str, Any]]] = {"prompt": {}, "completion": {}}
    for key, value in a.items():
        m = _INDEXED.match(key)
        if not m:
            continue
        entry = found[m.group(1)].setdefault(int(m.group(2)), {})
        rest = m.group(3)
        tc = re.fullmatch(r"tool_calls\.(\d+)\.(\w+)", rest)
        fc = re.fullmatch(r"function_call\.(\w+)", rest)
        if tc:
            entry.setdefault("_calls", {}).setdefault(int(tc.group(1)), {})[tc.group(2)] = value
        elif fc:
            entry.setdefault("function_call", {})[fc.group(1)] = value
        else:
            entry[rest] = value
    if not found["prompt"] and not found["completion"]:
        return None
    out: list[list[LMessage]] = [[], []]
    for slot, kind in enumerate(("prompt", "completion")):
        for i in sorted(found[kind]):
            entry = found[kind][i]
            calls = [{"id": c.get("id"), "function": c}
                     for _, c in sorted(entry.pop("_calls", {}).items())]
            role = entry.get("role", "assistant" if kind == "completion" else "user")
            out[slot].extend(flat_message(role, {**entry, "tool_calls": calls}, note))
    return out[0], out[1]

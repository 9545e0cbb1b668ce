"""`jsonl`: one session per line in OpenAI chat format, the shape `import openai-jsonl` reads.

    {"id": ..., "metadata": {labels}, "tools": [{"type": "function", "function": {...}}],
     "messages": [...chat messages...], "verdicts": [{"turn", "behavior", "flagged", ...}]}

Chat format has no place for thinking, tool latency, provenance or usage: they are left out
(`deploysim export otel` keeps them). Verdicts and other annotations ride along in their own
keys, which the chat importer ignores.
"""

from __future__ import annotations

import json
from typing import IO, Any

from recorder.annotation import Annotation
from recorder.session import Message, Session


def _content(m: Message) -> str | list[dict[str, Any]] | None:
    visible = [p for p in m.content if p.type in ("text", "refusal", "image", "json")]
    if all(p.type in ("text", "refusal") for p in visible):
        text = "".join(p.text for p in visible)
        return text if text or m.role != "assistant" else None
    parts: list[dict[str, Any]] = []
    for p in visible:
        if p.type == "image":
            parts.append({"type": "image_url", "image_url": p.data})
        elif p.type == "json":
            parts.append({"type": "text", "text": json.dumps(p.data, ensure_ascii=False)})
        else:
            parts.append({"type": "text", "text": p.text})
    return parts


def chat_message(m: Message) -> dict[str, Any]:
    """One session message as an OpenAI chat message."""
    if m.role == "tool":
        text = m.result.content if m.result is not None else m.text
        out: dict[str, Any] = {"role": "tool", "tool_call_id": m.tool_call_id or "",
                               "content": text}
        if m.name:
            out["name"] = m.name
        return out
    out = {"role": m.role, "content": _content(m)}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
            "name": c.name, "arguments": c.arguments_raw if c.arguments_raw is not None
            else json.dumps(c.arguments, ensure_ascii=False)}} for c in m.tool_calls]
    return out


def verdicts(notes: list[Annotation]) -> list[dict[str, Any]]:
    return [{"turn": a.turn, "behavior": a.name, "flagged": a.value,
             "severity": a.data.get("severity"), "evidence": a.data.get("evidence") or []}
            for a in notes if a.type == "verdict"]


def write_session(s: Session, notes: list[Annotation], f: IO[str]) -> None:
    line: dict[str, Any] = {
        "id": s.id, "metadata": dict(s.labels),
        "tools": [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                    "parameters": t.input_schema}}
                  for t in s.tools],
        "messages": [chat_message(m) for m in s.messages]}
    found = verdicts(notes)
    if found:
        line["verdicts"] = found
    others = [{"type": a.type, "name": a.name, "value": a.value, "turn": a.turn}
              for a in notes if a.type != "verdict"]
    if others:
        line["annotations"] = others
    f.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")

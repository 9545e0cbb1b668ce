"""Sessions for people and scripts: the stable `deploysim sessions --json` row and the
conversation view `deploysim show` prints."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from recorder.exchange import Exchange
from recorder.session import Message, Session
from recorder.turns import counted_turns

REDACTION_MARK = re.compile(r"\[REDACTED:[a-z0-9_]+:[0-9a-f]{12}\]")


def session_row(s: Session) -> dict[str, Any]:
    """One session as `deploysim sessions --json` prints it (see docs/recording.md).

    `turns` counts assistant turns (`recorder.turns.counted_turns`); `tool_calls` and `tools`
    count the tool calls made in those turns, or, for a `tool_only` session, its tool calls.
    """
    tools: Counter[str] = Counter()
    turns = counted_turns(s)
    if s.source.type == "tool_only":
        for m in s.messages:
            if m.role == "tool":
                tools[m.name or "?"] += 1
    else:
        for t in turns:
            for c in t.tool_calls(s):
                tools[c.name] += 1
    return {
        "id": s.id,
        "segment": s.labels.get("segment"),
        "model": s.labels.get("model") or s.params.get("model"),
        "turns": len(turns),
        "tool_calls": sum(tools.values()),
        "tools": dict(sorted(tools.items())),
        "messages": len(s.messages),
        "source": s.source.type,
        "exchanges": len(s.source.exchange_ids),
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "labels": dict(s.labels),
    }


@dataclass(frozen=True)
class Line:
    """One line of the conversation view: a style tag and the text."""

    style: str
    """role | text | thinking | tool_call | tool_result | error | meta."""
    text: str


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _timing(m: Message, exchanges: dict[str, Exchange], t0: float | None) -> str:
    ex = exchanges.get(m.exchange_id or "")
    if ex is None or t0 is None:
        return ""
    return f"  +{ex.started_at - t0:.2f}s, took {ex.ended_at - ex.started_at:.2f}s"


def render(s: Session, exchanges: dict[str, Exchange] | None = None) -> list[Line]:
    """The conversation for a person: roles, text, tool calls and results, timings, marks."""
    exchanges = exchanges or {}
    t0 = s.started_at
    lines = [Line("meta", f"session {s.id}  ({s.source.type}, {len(counted_turns(s))} turns, "
                          f"{len(s.messages)} messages)")]
    if s.labels:
        lines.append(Line("meta", "labels: " + ", ".join(f"{k}={v}" for k, v in
                                                         sorted(s.labels.items()))))
    for i, m in enumerate(s.messages):
        head = f"[{i}] {m.role}" + (f" ({m.name})" if m.name and m.role != "tool" else "")
        if m.role == "assistant":
            head += _timing(m, exchanges, t0)
            if m.finish_reason:
                head += f"  finish={m.finish_reason}"
        lines.append(Line("role", head))
        if m.role == "tool":
            r = m.result
            meta = []
            if r is not None and r.latency_ms is not None:
                meta.append(f"{r.latency_ms:.0f} ms")
            if r is not None and r.is_error:
                meta.append("ERROR")
            if r is not None and r.exchange_id:
                meta.append(f"exchange {r.exchange_id}")
            extra = f"  ({', '.join(meta)})" if meta else ""
            lines.append(Line("tool_result", f"← {m.name or m.tool_call_id}: "
                                             f"{_short(m.text or (r.content if r else ''))}"
                                             f"{extra}"))
            continue
        for p in m.content:
            if p.type in ("thinking", "redacted_thinking"):
                lines.append(Line("thinking", f"(thinking) {_short(p.text or '[redacted]')}"))
            elif p.type in ("text", "refusal"):
                prefix = "(refusal) " if p.type == "refusal" else ""
                lines.append(Line("text", prefix + p.text))
            else:
                lines.append(Line("meta", f"({p.type}) {_short(p.data)}"))
        for c in m.tool_calls:
            server = f" @{c.server}" if c.server else ""
            lines.append(Line("tool_call", f"→ {c.name}{server}({_short(c.arguments)})"))
        if m.error:
            lines.append(Line("error", f"error: {m.error}"))
    return lines

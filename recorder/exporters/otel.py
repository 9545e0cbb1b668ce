"""`otel`: sessions as OpenTelemetry GenAI spans, OTLP JSON, one trace (document) per line —
the file exporter's layout, which collectors, Phoenix, Langfuse and `import otel` read.

Per session, one trace:

    invoke_agent                      gen_ai.conversation.id = session id, labels
    ├── turn N                        deploysim.turn; verdicts as `deploysim.verdict` events
    │   ├── chat MODEL                one per assistant message (step): gen_ai.input.messages,
    │   │                             gen_ai.output.messages, gen_ai.system_instructions,
    │   │                             gen_ai.tool.definitions, usage, finish reason, origin
    │   └── execute_tool NAME         gen_ai.tool.call.id / .arguments / .result, error status
    └── ...

Attributes follow the current GenAI semantic conventions (messages as JSON parts: `text`,
`reasoning`, `tool_call`, `tool_call_response`). Sessions carry no per-message clock, so spans
are laid out from the session's start one microsecond apart (order kept, durations only where
the session knows them: a tool result's latency).
"""

from __future__ import annotations

import hashlib
import json
from typing import IO, Any

from recorder.annotation import Annotation
from recorder.session import ContentPart, Message, Session
from recorder.turns import turns
from recorder.version import __version__

_CLIENT, _INTERNAL = 3, 1
_ERROR = {"code": 2}


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list | tuple):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """A dict as OTLP JSON attributes (None values left out)."""
    return [{"key": k, "value": _value(v)} for k, v in values.items() if v is not None]


def _part(p: ContentPart) -> dict[str, Any]:
    if p.type == "text":
        return {"type": "text", "content": p.text}
    if p.type in ("thinking", "redacted_thinking"):
        return {"type": "reasoning", "content": p.text}
    if p.type == "refusal":
        return {"type": "text", "content": p.text}
    return {"type": p.type, "content": p.data}


def semconv_message(m: Message) -> dict[str, Any]:
    """A session message as a GenAI semantic-convention message (role + parts)."""
    if m.role == "tool":
        response = m.result.content if m.result is not None else m.text
        return {"role": "tool", "parts": [{"type": "tool_call_response",
                                           "id": m.tool_call_id, "response": response}]}
    parts = [_part(p) for p in m.content]
    parts += [{"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
              for c in m.tool_calls]
    out: dict[str, Any] = {"role": m.role, "parts": parts}
    if m.role == "assistant" and m.finish_reason:
        out["finish_reason"] = m.finish_reason
    return out


def _id(session: Session, what: str, size: int) -> str:
    return hashlib.sha256(f"{session.id}|{what}".encode()).hexdigest()[:size]


def _usage(usage: dict[str, int]) -> dict[str, Any]:
    inp = usage.get("input_tokens", usage.get("prompt_tokens"))
    out = usage.get("output_tokens", usage.get("completion_tokens"))
    return {"gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out}


def _event(name: str, at: int, values: dict[str, Any]) -> dict[str, Any]:
    return {"timeUnixNano": str(at), "name": name, "attributes": attributes(values)}


def _verdict_event(a: Annotation, at: int) -> dict[str, Any]:
    if a.type == "verdict":
        flagged = a.value if isinstance(a.value, bool) else None
        return _event("deploysim.verdict", at, {
            "deploysim.behavior": a.name, "deploysim.flagged": flagged,
            "deploysim.verdict.error": a.data.get("error") if flagged is None else None,
            "deploysim.severity": a.data.get("severity"),
            "deploysim.detector": a.data.get("detector"),
            "deploysim.rubric_hash": a.data.get("rubric_hash"),
            "deploysim.evidence": a.data.get("evidence") or None})
    return _event("deploysim.annotation", at, {
        "deploysim.annotation.type": a.type, "deploysim.annotation.name": a.name,
        "deploysim.annotation.value": a.value})


def session_spans(s: Session, notes: list[Annotation]) -> list[dict[str, Any]]:
    """The spans of one session's trace."""
    trace = _id(s, "trace", 32)
    base = int((s.started_at or 0) * 1e9)
    end = max(int((s.ended_at or 0) * 1e9), base + (len(s.messages) + 1) * 1000)
    model = s.labels.get("model") or s.params.get("model")
    root_id = _id(s, "root", 16)
    labels = {f"deploysim.label.{k}": v for k, v in s.labels.items()}
    by_turn: dict[int | None, list[Annotation]] = {}
    for a in notes:
        by_turn.setdefault(a.turn, []).append(a)

    def span(span_id: str, parent: str | None, name: str, kind: int, start: int, stop: int,
             values: dict[str, Any], events: list[dict[str, Any]] | None = None,
             status: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {"traceId": trace, "spanId": span_id, "name": name, "kind": kind,
               "startTimeUnixNano": str(start), "endTimeUnixNano": str(max(stop, start)),
               "attributes": attributes(values), "events": events or [],
               "status": status or {}}
        if parent:
            out["parentSpanId"] = parent
        return out

    spans = [span(root_id, None, "invoke_agent", _INTERNAL, base, end, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": s.id,
        "gen_ai.request.model": model, "deploysim.source": s.source.type,
        "deploysim.source_session": s.source.source_session, **labels,
    }, [_verdict_event(a, base) for a in by_turn.get(None, [])])]
    system = [p for m in s.messages if m.role == "system" for p in m.content]
    tools = [{"type": "function", "name": t.name, "description": t.description,
              "parameters": t.input_schema} for t in s.tools]
    for t in turns(s):
        t_start = base + t.start * 1000
        t_end = base + t.end * 1000
        turn_id = _id(s, f"turn{t.index}", 16)
        notes_here = by_turn.get(t.index, [])
        flagged = [a.name for a in notes_here if a.type == "verdict" and a.value is True]
        spans.append(span(turn_id, root_id, f"turn {t.index}", _INTERNAL, t_start, t_end, {
            "deploysim.turn": t.index, "deploysim.generated": t.generated,
            "deploysim.flagged_behaviors": flagged or None},
            [_verdict_event(a, t_start) for a in notes_here]))
        for i in range(t.start, t.end):
            m = s.messages[i]
            at = base + i * 1000
            if m.role == "assistant":
                spans.append(_chat_span(span, s, i, m, turn_id, at, model, system, tools))
            elif m.role == "tool" and m.result is not None:
                call = next((c for prev in s.messages[:i] for c in prev.tool_calls
                             if c.id == m.tool_call_id), None)
                latency = int((m.result.latency_ms or 0) * 1e6)
                spans.append(span(_id(s, f"tool{i}", 16), turn_id, f"execute_tool {m.name}",
                                  _INTERNAL, at, at + latency, {
                                      "gen_ai.operation.name": "execute_tool",
                                      "gen_ai.tool.name": m.name, "gen_ai.tool.type": "function",
                                      "gen_ai.tool.call.id": m.tool_call_id,
                                      "gen_ai.tool.call.arguments": call.arguments
                                      if call is not None else None,
                                      "gen_ai.tool.call.result": m.result.content,
                                      "deploysim.tool.provenance": m.result.provenance,
                                      "deploysim.origin": m.origin},
                                  status=_ERROR if m.result.is_error else None))
    return spans


def _chat_span(span: Any, s: Session, i: int, m: Message, parent: str, at: int,
               model: Any, system: list[ContentPart], tools: list[dict[str, Any]]
               ) -> dict[str, Any]:
    history = [semconv_message(x) for x in s.messages[:i] if x.role != "system"]
    return span(_id(s, f"chat{i}", 16), parent, f"chat {model or ''}".strip(), _CLIENT, at,
                at + 1000, {
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                    "gen_ai.conversation.id": s.id,
                    "deploysim.segment": s.labels.get("segment"),
                    "gen_ai.system_instructions": json.dumps([_part(p) for p in system],
                                                             ensure_ascii=False)
                    if system else None,
                    "gen_ai.input.messages": json.dumps(history, ensure_ascii=False),
                    "gen_ai.output.messages": json.dumps([semconv_message(m)],
                                                         ensure_ascii=False),
                    "gen_ai.tool.definitions": json.dumps(tools, ensure_ascii=False)
                    if tools else None,
                    "gen_ai.response.finish_reasons": [m.finish_reason] if m.finish_reason
                    else None,
                    **_usage(m.usage), "deploysim.origin": m.origin,
                    "deploysim.error": m.error},
                status=_ERROR if m.error else None)


def write_session(s: Session, notes: list[Annotation], f: IO[str]) -> None:
    doc = {"resourceSpans": [{
        "resource": {"attributes": attributes({"service.name": "deploysim"})},
        "scopeSpans": [{"scope": {"name": "deploysim", "version": __version__},
                        "spans": session_spans(s, notes)}]}]}
    f.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")

"""`otel`: OpenTelemetry GenAI semantic-convention spans (OTLP JSON) → sessions.

Reads an OTLP/JSON export (`{"resourceSpans": [...]}`, one document or one per line as the
collector's file exporter writes). Model-call spans (`gen_ai.operation.name` chat /
text_completion / generate_content, or any span carrying GenAI messages) give the
conversation, from whichever form the instrumentation used:
- `gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages` (JSON parts);
- span events `gen_ai.{system,user,assistant,tool}.message` and `gen_ai.choice`;
- indexed attributes `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`.
Calls are threaded like recorded traffic, grouped by `gen_ai.conversation.id` (else by trace).
`execute_tool` spans add latency and errors to the matching tool results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from recorder.derive import sessions_from_calls
from recorder.derive_tree import CallNode
from recorder.errors import UsageError
from recorder.importers import ImportResult
from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import LlmCall, tool_arguments
from recorder.session import Session, SessionSource, ToolDef

LLM_OPERATIONS = {"chat", "text_completion", "generate_content"}
_INDEXED = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")


def attr_value(v: Any) -> Any:
    """An OTLP JSON `AnyValue` as a plain value."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [attr_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return attrs((v["kvlistValue"] or {}).get("values", []))
    return v.get("bytesValue")


def attrs(items: Any) -> dict[str, Any]:
    """OTLP `attributes` (a list of key/value) as a dict."""
    return {a["key"]: attr_value(a.get("value")) for a in items or []
            if isinstance(a, dict) and "key" in a}


def _documents(path: str) -> Iterator[tuple[str, Any]]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"The file {path} cannot be read ({exc.strerror}); check the "
                         "path.") from exc
    try:
        yield "the file", json.loads(data)
        return
    except ValueError:
        pass
    for n, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                yield f"line {n}", json.loads(line)
            except ValueError as exc:
                yield f"line {n}", ValueError(str(exc))


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parts_message(role: str, parts: list[Any], finish: str | None = None) -> list[LMessage]:
    """A semconv message (role + parts) as neutral messages (tool responses split out)."""
    content: list[LPart] = []
    calls: list[LCall] = []
    tools: list[LMessage] = []
    for p in parts:
        if not isinstance(p, dict):
            content.append(LPart(text=str(p)))
            continue
        kind = p.get("type")
        if kind == "text":
            content.append(LPart(text=str(p.get("content", ""))))
        elif kind in ("reasoning", "thinking"):
            content.append(LPart(type="thinking", text=str(p.get("content", ""))))
        elif kind == "tool_call":
            args, raw = tool_arguments(p.get("arguments"))
            calls.append(LCall(id=str(p.get("id") or f"call_{len(calls)}"),
                                  name=str(p.get("name", "")), arguments=args, arguments_raw=raw))
        elif kind == "tool_call_response":
            text = _text(p.get("response"))
            tools.append(LMessage(role="tool", tool_call_id=str(p.get("id") or ""),
                                 content=[LPart(text=text)],
                                 result=LResult(content=text)))
        else:
            content.append(LPart(type="json", data=p))
    if role == "tool" or (tools and not content and not calls):
        return tools
    norm = role if role in ("system", "user", "assistant") else "user"
    out = [*tools] if tools else []
    out.append(LMessage(role=norm, content=content, tool_calls=calls,
                       finish_reason=finish))
    return out


def _semconv_messages(a: dict[str, Any]) -> tuple[list[LMessage], list[LMessage]] | None:
    if "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a:
        return None
    inputs: list[LMessage] = []
    system = _json(a.get("gen_ai.system_instructions"))
    if isinstance(system, list) and system:
        inputs.extend(parts_message("system", system))
    elif isinstance(system, str) and system:
        inputs.append(LMessage(role="system", content=[LPart(text=system)]))
    for m in _json(a.get("gen_ai.input.messages")) or []:
        if isinstance(m, dict):
            inputs.extend(parts_message(str(m.get("role", "user")), m.get("parts") or []))
    outputs = []
    for m in _json(a.get("gen_ai.output.messages")) or []:
        if isinstance(m, dict):
            outputs.extend(parts_message("assistant", m.get("parts") or [],
                                         m.get("finish_reason")))
    return inputs, outputs


def _flat_message(role: str, fields: dict[str, Any]) -> list[LMessage]:
    """A message from flat fields (events, indexed attributes): content, tool_calls, id."""
    parts: list[Any] = []
    content = fields.get("content")
    if content not in (None, ""):
        parts.append({"type": "text", "content": _text(_json(content)) if not isinstance(
            content, str) else content})
    calls = _json(fields.get("tool_calls")) or []
    for c in calls if isinstance(calls, list) else []:
        fn = c.get("function", c) if isinstance(c, dict) else {}
        parts.append({"type": "tool_call", "id": c.get("id") if isinstance(c, dict) else None,
                      "name": fn.get("name"), "arguments": fn.get("arguments")})
    if role == "tool":
        return [LMessage(role="tool", tool_call_id=str(fields.get("id") or
                                                      fields.get("tool_call_id") or ""),
                        content=[LPart(text=str(content or ""))],
                        result=LResult(content=str(content or "")))]
    return parts_message(role, parts, fields.get("finish_reason"))


def _event_messages(events: list[Any]) -> tuple[list[LMessage], list[LMessage]] | None:
    inputs: list[LMessage] = []
    outputs: list[LMessage] = []
    seen = False
    for e in events or []:
        name = e.get("name", "") if isinstance(e, dict) else ""
        a = attrs(e.get("attributes")) if isinstance(e, dict) else {}
        body = _json(a.get("gen_ai.event.content") or a.get("event.body"))
        fields = {**(body if isinstance(body, dict) else {}), **a}
        m = re.fullmatch(r"gen_ai\.(system|user|assistant|tool)\.message", name)
        if m:
            seen = True
            inputs.extend(_flat_message(m.group(1), fields))
        elif name == "gen_ai.choice":
            seen = True
            msg = _json(fields.get("message")) or {}
            msg = msg if isinstance(msg, dict) else {"content": msg}
            outputs.extend(_flat_message("assistant", {**msg, "finish_reason":
                                                       fields.get("finish_reason")}))
    return (inputs, outputs) if seen else None


def _indexed_messages(a: dict[str, Any]) -> tuple[list[LMessage], list[LMessage]] | None:
    found: dict[str, dict[int, dict[str, Any]]] = {"prompt": {}, "completion": {}}
    for key, value in a.items():
        m = _INDEXED.match(key)
        if m:
            entry = found[m.group(1)].setdefault(int(m.group(2)), {})
            rest = m.group(3)
            tc = re.fullmatch(r"tool_calls\.(\d+)\.(\w+)", rest)
            if tc:
                calls = entry.setdefault("_calls", {})
                calls.setdefault(int(tc.group(1)), {})[tc.group(2)] = value
            else:
                entry[rest] = value
    if not found["prompt"] and not found["completion"]:
        return None
    out: list[list[LMessage]] = [[], []]
    for slot, kind in enumerate(("prompt", "completion")):
        for i in sorted(found[kind]):
            entry = found[kind][i]
            calls = [entry["_calls"][j] for j in sorted(entry.get("_calls", {}))]
            fields = {**entry, "tool_calls": calls}
            role = str(entry.get("role", "assistant" if kind == "completion" else "user"))
            out[slot].extend(_flat_message(role, fields))
    return out[0], out[1]


def _tool_defs(a: dict[str, Any]) -> list[ToolDef]:
    defs = _json(a.get("gen_ai.tool.definitions")) or []
    out = []
    for d in defs if isinstance(defs, list) else []:
        if isinstance(d, dict):
            fn = d.get("function", d)
            out.append(ToolDef(name=str(fn.get("name", "")),
                               description=str(fn.get("description") or ""),
                               input_schema=fn.get("parameters") or {}))
    return out


def import_otel(path: str) -> ImportResult:
    """Sessions from an OTLP JSON trace export; unusable documents/spans are reported."""
    result = ImportResult()
    nodes: list[CallNode] = []
    tool_spans: dict[str, tuple[float, bool]] = {}
    problems: dict[str, list[str]] = {}
    for where, doc in _documents(path):
        if isinstance(doc, ValueError):
            result.problems.append(f"{where} of {path} is not valid JSON ({doc}); skipped")
            continue
        for rs in (doc if isinstance(doc, list) else [doc]):
            if not isinstance(rs, dict) or "resourceSpans" not in rs:
                result.problems.append(f"{where} of {path} is not an OTLP trace export (no "
                                       "`resourceSpans`); skipped")
                continue
            for resource in rs["resourceSpans"] or []:
                res_attrs = attrs((resource.get("resource") or {}).get("attributes"))
                for scope in resource.get("scopeSpans") or []:
                    for span in scope.get("spans") or []:
                        _span(span, res_attrs, nodes, tool_spans, result)
    sessions = sessions_from_calls(nodes, SessionSource(type="imported", importer="otel"),
                                   problems)
    result.sessions = [_with_tool_spans(s, tool_spans) for s in sessions]
    result.problems.extend(f"span {sid}: {p}" for sid, ps in problems.items() for p in ps)
    return result


def _span(span: dict[str, Any], res_attrs: dict[str, Any], nodes: list[CallNode],
          tool_spans: dict[str, tuple[float, bool]], result: ImportResult) -> None:
    a = {**res_attrs, **attrs(span.get("attributes"))}
    op = a.get("gen_ai.operation.name")
    start = int(span.get("startTimeUnixNano") or 0) / 1e9
    end = int(span.get("endTimeUnixNano") or 0) / 1e9
    failed = (span.get("status") or {}).get("code") in (2, "STATUS_CODE_ERROR")
    if op == "execute_tool":
        call_id = a.get("gen_ai.tool.call.id")
        if isinstance(call_id, str):
            tool_spans[call_id] = (round((end - start) * 1000, 3), failed)
        return
    found = (_semconv_messages(a) or _event_messages(span.get("events") or [])
             or _indexed_messages(a))
    if found is None:
        if op in LLM_OPERATIONS:
            result.problems.append(f"span {span.get('spanId')} ({span.get('name')}) is a model "
                                   "call without recorded messages; skipped")
        return
    inputs, outputs = found
    model = a.get("gen_ai.request.model") or a.get("gen_ai.response.model")
    usage = {k.split(".")[-1]: int(v) for k, v in a.items()
             if k.startswith("gen_ai.usage.") and isinstance(v, int | float)}
    outputs = [m.model_copy(update={"usage": usage}) for m in outputs[:1]]
    labels = {"model": str(model)} if model else {}
    for key in ("segment", "deploysim.segment"):
        if isinstance(a.get(key), str):
            labels["segment"] = a[key]
    group = a.get("gen_ai.conversation.id") or f"otel-{span.get('traceId', '')}"
    call = LlmCall(api="otel", model=str(model) if model else None, messages=inputs,
                   outputs=outputs, tools=_tool_defs(a),
                   params={"model": model} if model else {})
    if failed and not outputs:
        call.error = str((span.get("status") or {}).get("message") or "error")
    nodes.append(CallNode(str(span.get("spanId") or len(nodes)), start, end, str(group), call,
                          labels))


def _with_tool_spans(s: Session, tool_spans: dict[str, tuple[float, bool]]) -> Session:
    if not tool_spans:
        return s
    messages = []
    for m in s.messages:
        if m.role == "tool" and m.tool_call_id in tool_spans and m.result is not None:
            latency, failed = tool_spans[m.tool_call_id or ""]
            m = m.model_copy(update={"result": m.result.model_copy(update={
                "latency_ms": latency, "is_error": m.result.is_error or failed})})
        messages.append(m)
    return s.model_copy(update={"messages": messages})

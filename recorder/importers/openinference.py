"""`openinference`: OpenInference spans (Phoenix, Arize) → sessions.

Reads the spans from OTLP JSON or protobuf, or one span per line as Phoenix exports them
(`recorder.importers.otlp`). By `openinference.span.kind`:
- `LLM` spans are model calls: `llm.input_messages.N.message.*` (role, content or
  `contents.M.message_content.*`, `tool_calls.M.tool_call.*`, `tool_call_id`, `name`),
  `llm.output_messages.N.message.*`, `llm.tools.N.tool.json_schema`, `llm.model_name`,
  `llm.invocation_parameters`, `llm.token_count.*`;
- `TOOL` spans (`tool.name`, `input.value`, `output.value`) join the tool call they ran;
- `CHAIN` and `AGENT` spans are structure (their input and output repeat their children's);
- every other kind (`RETRIEVER`, `EMBEDDING`, `RERANKER`, `GUARDRAIL`, `EVALUATOR`, `PROMPT`)
  is counted as not mapped.
Calls are grouped by `session.id` (else the trace) and threaded like recorded traffic;
`user.id`, `tag.tags` and the segment attribute become labels.
"""

from __future__ import annotations

import re
from typing import Any

from recorder.importers import ImportResult
from recorder.importers.genai_messages import Note, build, call_of, role_of, tool_message
from recorder.importers.otel import segment_of
from recorder.importers.otlp import Span, read_spans
from recorder.importers.span_calls import SpanSessions, ToolSpan, as_text, parse_json
from recorder.importers.trace_helpers import tool_defs
from recorder.protocols.light import LCall, LMessage, LPart
from recorder.protocols.parsed import LlmCall

STRUCTURE = {"CHAIN", "AGENT"}
DEFAULT_SEGMENT_KEYS = ("segment", "metadata.segment")
_NOT_PARAMS = {"model", "messages", "tools", "functions", "stream", "stream_options",
               "input", "system", "tool_choice_options"}


def indexed(a: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """`prefix.N.rest` attributes as one dict per N (in order) of `rest` → value."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)$")
    found: dict[int, dict[str, Any]] = {}
    for key, value in a.items():
        m = pattern.match(key)
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    return [found[i] for i in sorted(found)]


def message(fields: dict[str, Any], note: Note) -> list[LMessage]:
    """One `message.*` group as neutral messages."""
    role = role_of(fields.get("message.role", "user"), note)
    name = fields.get("message.name")
    if role == "tool":
        content = fields.get("message.content")
        if content in (None, ""):
            content = "".join(str(c.get("message_content.text", "")) for c in
                              indexed(fields, "message.contents"))
        if content in (None, ""):
            note("tool message without content")
            return []
        return [tool_message(fields.get("message.tool_call_id"), name, content)]
    calls = [_call(c) for c in indexed(fields, "message.tool_calls")]
    if fields.get("message.function_call_name"):
        calls.append(call_of(None, fields["message.function_call_name"],
                             fields.get("message.function_call_arguments_json")))
    parts: list[LPart] = []
    contents = indexed(fields, "message.contents")
    for c in contents:
        kind = c.get("message_content.type")
        if kind == "text":
            parts.append(LPart(text=as_text(c.get("message_content.text", ""))))
        elif kind == "reasoning":
            parts.append(LPart(type="thinking", text=as_text(c.get("message_content.text",
                                                                   ""))))
        elif kind == "image" and c.get("message_content.image.image.url"):
            parts.append(LPart(type="image", data=c["message_content.image.image.url"]))
        elif kind == "tool_use":
            if not indexed(fields, "message.tool_calls"):  # else the same calls, listed twice
                calls.append(_call(c))
        else:
            note(f"message content of type {kind}")
    if not contents and fields.get("message.content") not in (None, ""):
        parts.append(LPart(text=as_text(fields["message.content"])))
    out = build(role, parts, calls, [], note)
    if out and name and role != "assistant":
        out[-1].name = str(name)
    return out


def _call(c: dict[str, Any]) -> LCall:
    return call_of(c.get("tool_call.id"), c.get("tool_call.function.name"),
                   c.get("tool_call.function.arguments"))


def import_openinference(path: str, *, segment_attribute: str | None = None) -> ImportResult:
    """Sessions from OpenInference spans; what cannot be mapped is counted in `unmapped`, a
    malformed file raises `UsageError`."""
    result = ImportResult()
    calls = SpanSessions("openinference")
    for span in read_spans(path):
        def note(what: str, span: Span = span) -> None:
            result.unmapped_item(what, span.where)

        kind = str(span.attrs.get("openinference.span.kind") or "").upper()
        if kind == "LLM":
            if not _model_call(span, segment_attribute, calls, note):
                note("LLM span without input or output messages")
        elif kind == "TOOL":
            calls.tools.append(_tool_span(span))
        elif kind and kind not in STRUCTURE:
            note(f"span of kind {kind}")
    result.sessions = calls.sessions(result)
    return result


def _tool_span(span: Span) -> ToolSpan:
    a = span.attrs
    call_id = a.get("tool_call.id") or a.get("tool.id")
    arguments = a.get("tool.parameters") if a.get("input.value") is None else a["input.value"]
    return ToolSpan(trace_id=span.trace_id, call_id=str(call_id) if call_id else None,
                    name=str(a.get("tool.name") or span.name), arguments=parse_json(arguments),
                    result=a.get("output.value"), latency_ms=(span.end - span.start) * 1000,
                    error=span.error, server=None, start=span.start, where=span.where)


def _model_call(span: Span, segment_key: str | None, calls: SpanSessions, note: Note) -> bool:
    a = span.attrs
    inputs = [m for f in indexed(a, "llm.input_messages") for m in message(f, note)]
    outputs = [m for f in indexed(a, "llm.output_messages") for m in message(f, note)
               if m.role == "assistant"]
    if not inputs and not outputs:
        return False
    model = (a.get("llm.model_name") or a.get("llm.request.model_name")
             or a.get("llm.response.model_name"))
    invocation = parse_json(a.get("llm.invocation_parameters"))
    params: dict[str, Any] = {"model": model} if model else {}
    if isinstance(invocation, dict):
        params.update({k: v for k, v in invocation.items()
                       if k not in _NOT_PARAMS and v is not None})
    usage = {name: int(a[f"llm.token_count.{key}"])
             for key, name in (("prompt", "input_tokens"), ("completion", "output_tokens"))
             if isinstance(a.get(f"llm.token_count.{key}"), int | float)}
    if outputs:
        outputs[0].usage = usage
        outputs[0].finish_reason = outputs[0].finish_reason or (
            str(a["llm.finish_reason"]) if a.get("llm.finish_reason") else None)
    labels = {"model": str(model)} if model else {}
    provider = a.get("llm.provider") or a.get("llm.system")
    if provider:
        labels["provider"] = str(provider)
    if a.get("user.id"):
        labels["user_id"] = str(a["user.id"])
    if isinstance(a.get("tag.tags"), list) and a["tag.tags"]:
        labels["tags"] = ",".join(str(t) for t in a["tag.tags"])
    segment = segment_of(span, segment_key) if segment_key else _default_segment(span)
    if segment is not None:
        labels["segment"] = segment
    tools = tool_defs([parse_json(t.get("tool.json_schema")) for t in indexed(a, "llm.tools")])
    call = LlmCall(api="openinference", model=str(model) if model else None, messages=inputs,
                   outputs=outputs[:1], tools=tools, params=params)
    if span.error and not outputs:
        call.error = span.error
    group = span.get("session.id") or f"oi-{span.trace_id}"
    calls.add_call(span.span_id, span.trace_id, span.start, span.end, str(group), call, labels)
    return True


def _default_segment(span: Span) -> str | None:
    for key in DEFAULT_SEGMENT_KEYS:
        found = segment_of(span, key)
        if found is not None:
            return found
    return None

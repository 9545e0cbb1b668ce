"""`otel`: OpenTelemetry GenAI semantic-convention spans (OTLP JSON or protobuf) → sessions.

Model-call spans (`gen_ai.operation.name` chat / text_completion / generate_content, or any
span carrying GenAI messages) give the conversation, in whichever shape the instrumentation
wrote it (`recorder.importers.genai_messages`), with the request's model, parameters
(`gen_ai.request.*`), tool definitions (`gen_ai.tool.definitions`, OpenLLMetry's
`llm.request.functions.N.*`) and token usage. Calls are threaded like recorded traffic,
grouped by `gen_ai.conversation.id` (else `session.id`, else the trace).

Tool executions (`execute_tool` spans, MCP `tools/call` spans, OpenLLMetry `tool` spans) join
the tool call they ran (`recorder.importers.span_calls`). `invoke_agent` / workflow spans are
structure: their messages repeat their model calls', so they are used only for a trace that
has no model-call span with messages. Embeddings, retrieval, other GenAI operations and MCP
requests that are not tool calls are counted as not mapped; spans outside the GenAI and MCP
conventions (HTTP, database, ...) are not part of a conversation and are passed over.
"""

from __future__ import annotations

import re
from typing import Any

from recorder.importers import ImportResult
from recorder.importers.genai_messages import (
    Conversation,
    Note,
    event_messages,
    indexed_messages,
    semconv_messages,
)
from recorder.importers.otlp import Span, malformed, read_spans
from recorder.importers.span_calls import SpanSessions, ToolSpan, parse_json
from recorder.importers.trace_helpers import tool_defs
from recorder.protocols.parsed import LlmCall
from recorder.session import ToolDef

LLM_OPERATIONS = {"chat", "text_completion", "generate_content"}
AGENT_OPERATIONS = {"invoke_agent", "invoke_workflow", "create_agent"}
MCP_HOUSEKEEPING = {"initialize", "ping", "tools/list", "prompts/list", "resources/list",
                    "resources/templates/list", "logging/setLevel", "roots/list",
                    "resources/subscribe", "resources/unsubscribe"}
DEFAULT_SEGMENT_KEYS = ("segment", "deploysim.segment")

# semantic-convention request parameters → the names sessions keep (as replays send them)
_PARAMS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
           "max_tokens": "max_tokens", "seed": "seed", "stop_sequences": "stop",
           "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
           "choice.count": "n"}
_USAGE = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
          "prompt_tokens": "input_tokens", "completion_tokens": "output_tokens",
          "cache_read.input_tokens": "cache_read_input_tokens",
          "cache_creation.input_tokens": "cache_creation_input_tokens",
          "reasoning.output_tokens": "reasoning_tokens"}
_FUNCTIONS = re.compile(r"^llm\.request\.functions\.(\d+)\.(\w+)$")


def lookup(span: Span, key: str) -> Any:
    """An attribute by name, from the span or its resource; `metadata.tier` also finds
    `tier` inside a JSON-valued `metadata` attribute."""
    value = span.get(key)
    if value is not None:
        return value
    head, _, rest = key.partition(".")
    while rest:
        inner = parse_json(span.get(head))
        if isinstance(inner, dict) and rest in inner:
            return inner[rest]
        part, _, rest = rest.partition(".")
        head = f"{head}.{part}"
    return None


def segment_of(span: Span, key: str | None) -> str | None:
    for k in (key,) if key else DEFAULT_SEGMENT_KEYS:
        value = lookup(span, k)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    return None


def import_otel(path: str, *, segment_attribute: str | None = None) -> ImportResult:
    """Sessions from an OTLP trace export (JSON or protobuf) of GenAI spans; what cannot be
    mapped is counted in `unmapped`, a malformed file raises `UsageError`."""
    result = ImportResult()
    calls = SpanSessions("otel")
    spans = read_spans(path)
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[Span]] = {}
    for s in spans:
        children.setdefault(s.parent_id, []).append(s)
    agents: list[Span] = []
    traced: set[str] = set()
    for span in spans:
        def note(what: str, span: Span = span) -> None:
            result.unmapped_item(what, span.where)

        op = span.attrs.get("gen_ai.operation.name")
        method = span.attrs.get("mcp.method.name")
        if op == "execute_tool" or method == "tools/call" or (
                span.attrs.get("traceloop.span.kind") == "tool"):
            parent = by_id.get(span.parent_id)
            if parent is None or not _is_tool(parent):  # a nested MCP span is the same call
                calls.tools.append(_tool_span(span, children.get(span.span_id, [])))
        elif op in AGENT_OPERATIONS:
            agents.append(span)
        elif method is not None:
            if method not in MCP_HOUSEKEEPING and not str(method).startswith("notifications/"):
                note(f"MCP `{method}` span")
        elif _model_call(span, segment_attribute, calls, note):
            traced.add(span.trace_id)
        elif op in LLM_OPERATIONS:
            note("model-call span without recorded messages (was content capture off?)")
        elif op is not None:
            note(f"span of GenAI operation `{op}`")
    for span in agents:
        if span.trace_id not in traced:
            def agent_note(what: str, span: Span = span) -> None:
                result.unmapped_item(what, span.where)

            _model_call(span, segment_attribute, calls, agent_note)
    result.sessions = calls.sessions(result)
    return result


def _is_tool(span: Span) -> bool:
    return (span.attrs.get("gen_ai.operation.name") == "execute_tool"
            or span.attrs.get("mcp.method.name") == "tools/call")


def _tool_span(span: Span, children: list[Span]) -> ToolSpan:
    a = dict(span.attrs)
    for child in children:  # MCP attributes of a nested tools/call span
        if child.attrs.get("mcp.method.name"):
            a = {**child.attrs, **a}
    name = a.get("gen_ai.tool.name") or a.get("traceloop.entity.name") or span.name
    address = a.get("server.address")
    server = f"{address}:{a['server.port']}" if address and a.get("server.port") else address
    arguments = a.get("gen_ai.tool.call.arguments")
    result = a.get("gen_ai.tool.call.result", a.get("traceloop.entity.output"))
    error = span.error or (str(a["error.type"]) if a.get("error.type") else None)
    call_id = a.get("gen_ai.tool.call.id")
    return ToolSpan(trace_id=span.trace_id, call_id=str(call_id) if call_id else None,
                    name=str(name), arguments=parse_json(arguments), result=result,
                    latency_ms=(span.end - span.start) * 1000, error=error,
                    server=str(server) if server else None, start=span.start,
                    where=span.where)


def _conversation(span: Span, note: Note) -> Conversation | None:
    a = dict(span.attrs)
    for e in span.events:  # the opt-in event that carries the whole call
        if e.name == "gen_ai.client.inference.operation.details":
            a.update(e.attrs)
            if isinstance(e.body, dict):
                a.update(e.body)
    try:
        return (semconv_messages(a, note) or event_messages(span.events, note)
                or indexed_messages(a, note))
    except ValueError as exc:
        raise malformed(span.where, str(exc)) from None


def _model_call(span: Span, segment_key: str | None, calls: SpanSessions, note: Note) -> bool:
    found = _conversation(span, note)
    if found is None or not (found[0] or found[1]):
        return False
    inputs, outputs = found
    a = span.attrs
    model = a.get("gen_ai.request.model") or a.get("gen_ai.response.model")
    params: dict[str, Any] = {"model": model} if model else {}
    for key, name in _PARAMS.items():
        if a.get(f"gen_ai.request.{key}") is not None:
            params[name] = a[f"gen_ai.request.{key}"]
    usage = {name: int(a[f"gen_ai.usage.{key}"]) for key, name in _USAGE.items()
             if isinstance(a.get(f"gen_ai.usage.{key}"), int | float)}
    if outputs:
        outputs[0].usage = usage
    labels = {"model": str(model)} if model else {}
    provider = a.get("gen_ai.provider.name") or a.get("gen_ai.system")
    if provider:
        labels["provider"] = str(provider)
    if a.get("gen_ai.agent.name"):
        labels["agent"] = str(a["gen_ai.agent.name"])
    segment = segment_of(span, segment_key)
    if segment is not None:
        labels["segment"] = segment
    call = LlmCall(api="otel", model=str(model) if model else None, messages=inputs,
                   outputs=outputs, tools=_tools(a), params=params)
    if span.error and not outputs:
        call.error = span.error
    group = (a.get("gen_ai.conversation.id") or span.get("session.id")
             or f"otel-{span.trace_id}")
    calls.add_call(span.span_id, span.trace_id, span.start, span.end, str(group), call, labels)
    return True


def _tools(a: dict[str, Any]) -> list[ToolDef]:
    defs = tool_defs(parse_json(a.get("gen_ai.tool.definitions")))
    functions: dict[int, dict[str, Any]] = {}
    for key, value in a.items():
        m = _FUNCTIONS.match(key)
        if m:
            functions.setdefault(int(m.group(1)), {})[m.group(2)] = (
                parse_json(value) if m.group(2) == "parameters" else value)
    return defs + tool_defs([functions[i] for i in sorted(functions)])

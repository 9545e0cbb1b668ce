"""Model-call spans and tool spans → sessions: what the span-based importers share.

An importer turns each model-call span into an `LlmCall` (the conversation it sent, the answer
it got) and each tool-execution span into a `ToolSpan`; `SpanSessions` threads the calls the way
recorded traffic is threaded (`recorder.derive`), then joins each tool span to the tool call it
executed: by call id, else by name and arguments, else by name alone (in time order), within
the session's traces. A joined span gives the result its latency and error, and the result
itself when no later model call carried it (the last step of an agent, say); a tool span joined
to nothing is reported as not mapped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from recorder.derive import thread
from recorder.derive_build import build_session, session_ids
from recorder.derive_tree import CallNode, SessionPath
from recorder.importers import ImportResult
from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.parsed import LlmCall, canonical_json
from recorder.session import Session, SessionSource


@dataclass
class ToolSpan:
    """A tool execution traced as its own span (execute_tool, MCP tools/call, TOOL)."""

    trace_id: str
    call_id: str | None
    name: str
    arguments: Any
    result: Any
    """What the tool returned; None when the span does not carry it."""
    latency_ms: float
    error: str | None
    server: str | None
    start: float
    where: str
    used: bool = False


def as_text(value: Any) -> str:
    """A value as the text a model sees: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_json(value: Any) -> Any:
    """A JSON string's value (other values, and strings that are not JSON, as they are)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def link_tool_ids(messages: list[LMessage]) -> None:
    """Give tool calls without an id a stable one, and tool results without a `tool_call_id`
    the oldest unanswered call of their tool (in place).

    Every span re-sends the conversation so far: an id derived from the call's place and
    content is the same in each span, so threading sees the same messages."""
    pending: list[LCall] = []
    assistant = 0
    for m in messages:
        if m.role == "assistant":
            for k, c in enumerate(m.tool_calls):
                if not c.id:
                    args = c.arguments_raw or canonical_json(c.arguments)
                    seed = f"{assistant}|{k}|{c.name}|{args}"
                    c.id = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:16]
                pending.append(c)
            assistant += 1
        elif m.role == "tool":
            if m.tool_call_id:
                match = next((c for c in pending if c.id == m.tool_call_id), None)
            else:
                match = next((c for c in pending if m.name in (None, c.name)), None)
            if match is not None:
                m.tool_call_id, m.name = match.id, m.name or match.name
                pending.remove(match)


@dataclass
class SpanSessions:
    """Collects model calls and tool spans; `sessions()` threads and joins them."""

    importer: str
    nodes: list[CallNode] = field(default_factory=list)
    tools: list[ToolSpan] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)
    """Span id → trace id of each model call."""

    def add_call(self, span_id: str, trace_id: str, start: float, end: float, group: str,
                 call: LlmCall, labels: dict[str, str]) -> None:
        link_tool_ids(call.messages)
        for out in call.outputs:
            link_tool_ids([*call.messages, out])
        self.traces[span_id] = trace_id
        self.nodes.append(CallNode(span_id, start, end, group, call, labels))

    def sessions(self, result: ImportResult) -> list[Session]:
        problems: dict[str, list[str]] = {}
        paths = thread(sorted(self.nodes, key=lambda n: (n.started_at, n.exchange_id)),
                       problems)
        ids = session_ids(paths)
        self.tools.sort(key=lambda t: (t.start, t.where))
        source = SessionSource(type="imported", importer=self.importer)
        out = []
        for path in paths:
            self._join_tools(path)
            out.append(build_session(path, ids[id(path)], [], [], {}, source))
        result.problems.extend(f"span {sid}: {p}" for sid, ps in problems.items() for p in ps)
        for t in self.tools:
            if not t.used:
                result.unmapped_item(f"tool span `{t.name}` not joined to any model tool call",
                                     t.where)
        return out

    def _join_tools(self, path: SessionPath) -> None:
        traces = {self.traces.get(n.exchange_id) for n in path.calls}
        answered = {m.tool_call_id: m for m in path.messages if m.role == "tool"}
        out: list[LMessage] = []
        inserts: list[LMessage] = []
        for m in path.messages:
            if inserts and m.role != "tool":
                out.extend(inserts)
                inserts = []
            out.append(m)
            for c in m.tool_calls:
                span = self._find(c, traces)
                if span is None:
                    continue
                if span.server and c.server is None:
                    c.server = span.server
                done = answered.get(c.id)
                if done is not None:
                    _enrich(done, span)
                elif span.result is not None or span.error is not None:
                    inserts.append(_tool_message(c, span))
        out.extend(inserts)
        path.messages[:] = out

    def _find(self, call: LCall, traces: Iterable[str | None]) -> ToolSpan | None:
        scope = set(traces)
        args = canonical_json(call.arguments)
        rules = (lambda t: t.call_id == call.id,
                 lambda t: t.call_id is None and t.trace_id in scope and t.name == call.name
                 and canonical_json(t.arguments) == args,
                 lambda t: t.call_id is None and t.trace_id in scope and t.name == call.name)
        for rule in rules:
            for t in self.tools:
                if not t.used and rule(t):
                    t.used = True
                    return t
        return None


def _result(span: ToolSpan) -> LResult:
    text = as_text(span.result) if span.result is not None else (span.error or "")
    structured = span.result if not isinstance(span.result, str | type(None)) else None
    return LResult(content=text, structured=structured, is_error=span.error is not None,
                   latency_ms=round(span.latency_ms, 3))


def _tool_message(call: LCall, span: ToolSpan) -> LMessage:
    r = _result(span)
    return LMessage(role="tool", tool_call_id=call.id, name=call.name,
                    content=[LPart(text=r.content)], result=r)


def _enrich(message: LMessage, span: ToolSpan) -> None:
    """The tool span's latency and error on the result the conversation carried."""
    old = message.result or LResult(content=message.text)
    new = _result(span)
    if not old.content and not message.text and span.result is not None:
        message.content = [LPart(text=new.content)]
        old.content, old.structured = new.content, new.structured
    old.latency_ms = new.latency_ms
    old.is_error = old.is_error or new.is_error
    message.result = old

"""What the trace-store importers share: reading JSON/JSONL files with errors that name the
line, timestamps, labels from metadata, and turning model calls into threaded sessions.

Every importer here reduces its format to model calls (`LlmCall`: the request's messages and
the answer) and hands them to `Calls`, which threads them exactly like recorded traffic
(`recorder.derive.sessions_from_calls`): a call continues the call whose conversation is the
longest prefix of its own, grouped by an explicit conversation id when the source has one. So
an agent's ten model calls become one session with ten steps, not ten sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recorder.derive import sessions_from_calls
from recorder.derive_tree import CallNode
from recorder.errors import UsageError
from recorder.importers import ImportResult
from recorder.protocols.parsed import LlmCall
from recorder.session import Session, SessionSource, ToolDef

_EPOCH_FLOOR = 1_000_000.0
"""Calls without a timestamp are ordered by their position (0, 1, 2, ...); a session whose
times are below this (January 1970) had none, so its times are left empty, not invented."""


def as_obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (logs are loose about nesting)."""
    return value if isinstance(value, dict) else {}


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"The file {path} cannot be read ({exc.strerror}); check the "
                         "path.") from exc


def malformed(path: str, line: int, exc: ValueError, what: str) -> UsageError:
    return UsageError(f"{path} line {line} is not valid JSON ({exc}); fix or remove that line "
                      f"(the file should hold {what}).")


def json_records(path: str, what: str) -> Iterator[tuple[str, Any]]:
    """(`line N`, value) for each line of a JSONL file, or (`the file`, value) for a file that
    is one JSON document. Invalid JSON is an error naming the file and line."""
    data = read_bytes(path)
    text = data.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            yield "the file", json.loads(text)
            return
        except json.JSONDecodeError as exc:
            # a JSONL file fails as one document after its first line: read it line by line
            if stripped[:1] == "[" or (exc.lineno == 1 and "Extra data" not in exc.msg):
                raise malformed(path, exc.lineno, exc, what) from exc
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise malformed(path, n, exc, what) from exc


def json_items(path: str, what: str, list_key: str, kind: str | None = None
               ) -> Iterator[tuple[str, Any]]:
    """(where, item) for each item of a JSON export: each record of `json_records`, or each
    element of a record that is an array or an object holding one under `list_key` (an API's
    list page; with `kind`, only when its `object` is `kind`). An element is `item I` of a
    whole file, else `item I of line N`."""
    for where, doc in json_records(path, what):
        if isinstance(doc, dict) and isinstance(doc.get(list_key), list) \
                and (kind is None or doc.get("object") == kind):
            doc = doc[list_key]
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                yield (f"item {i}" if where == "the file" else f"item {i} of {where}"), item
        else:
            yield where, doc


def timestamp(value: Any) -> float | None:
    """Unix seconds from an ISO 8601 string (`Z` or offset; naive means UTC) or a number
    (seconds, or milliseconds/nanoseconds when too large to be seconds)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        v = float(value)
        while v > 1e11:  # ms, µs or ns since the epoch
            v /= 1000.0
        return v
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


def scalar_labels(metadata: Any, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """String labels from a metadata object's scalar entries (all, or only `keys`)."""
    if not isinstance(metadata, dict):
        return {}
    return {str(k): str(v) for k, v in metadata.items()
            if isinstance(v, str | int | float | bool) and (keys is None or k in keys)}


def tool_defs(raw: Any) -> list[ToolDef]:
    """Tool definitions in any of the common shapes: OpenAI chat (`{"type": "function",
    "function": {...}}`), Responses / Inspect / flat (`name`, `parameters`), Anthropic
    (`input_schema`)."""
    out = []
    for t in raw if isinstance(raw, list) else []:
        if not isinstance(t, dict):
            continue
        fn = as_obj(t.get("function")) or t
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            continue
        schema = fn.get("parameters") or fn.get("input_schema") or fn.get("inputSchema") or {}
        out.append(ToolDef(name=name, description=str(fn.get("description") or ""),
                           input_schema=schema if isinstance(schema, dict) else {}))
    return out


@dataclass
class ToolFact:
    """What a tool span/run/event says about one tool call: how long it took, whether it
    failed. Matched to the session's tool result by call id, else by name in order."""

    name: str
    group: str | None
    latency_ms: float | None
    is_error: bool
    call_id: str | None = None
    where: str = ""
    matched: bool = False


@dataclass
class Calls:
    """Model calls of one file, threaded into sessions at the end."""

    importer: str
    nodes: list[CallNode] = field(default_factory=list)
    tools: list[ToolFact] = field(default_factory=list)

    def add(self, key: str, call: LlmCall, *, started: float | None, ended: float | None,
            group: str | None, labels: dict[str, str] | None = None) -> None:
        """One model call; `key` identifies it in the file (it seeds the session id when the
        source names no conversation)."""
        for m in call.outputs:
            m.exchange_id = None  # not recorded on the wire: no exchange to point to
        start = started if started is not None else float(len(self.nodes))
        self.nodes.append(CallNode(key, start, ended if ended is not None else start, group,
                                   call, dict(labels or {})))

    def add_tool(self, name: str, *, group: str | None, started: float | None,
                 ended: float | None, is_error: bool, call_id: Any, where: str) -> None:
        """One tool span/run/observation: its latency (when both ends are known) and error
        flag go to the matching tool result when the sessions are built."""
        self.tools.append(ToolFact(
            name=name, group=group,
            latency_ms=round((ended - started) * 1000, 3) if started and ended else None,
            is_error=is_error, call_id=str(call_id) if call_id else None, where=where))

    def sessions(self, result: ImportResult) -> list[Session]:
        problems: dict[str, list[str]] = {}
        sessions = sessions_from_calls(
            self.nodes, SessionSource(type="imported", importer=self.importer), problems)
        result.problems.extend(f"{key}: {p}" for key, ps in problems.items() for p in ps)
        for n in self.nodes:
            if not n.call.outputs and n.call.error:
                # a session holds answers, not failures: say so rather than drop it quietly
                result.unmapped_item("failed model call (its error is not part of a session)",
                                     f"{n.exchange_id} ({n.call.error})")
        out = [_untimed(_with_tool_facts(s, self.tools)) for s in sessions]
        for f in self.tools:
            if not f.matched:
                result.unmapped_item(f"tool call with no matching call in a model call's "
                                     f"conversation ({f.name})", f.where)
        return out


def _untimed(s: Session) -> Session:
    if s.started_at is not None and s.started_at < _EPOCH_FLOOR:
        return s.model_copy(update={"started_at": None, "ended_at": None})
    return s


def _with_tool_facts(s: Session, facts: list[ToolFact]) -> Session:
    """Latency and error flags from tool spans, on the session's tool results."""
    if not facts:
        return s
    base = s.id.split("~", 1)[0]
    by_id = {f.call_id: f for f in facts if f.call_id and not f.matched}
    queues: dict[str, list[ToolFact]] = {}
    for f in facts:
        if not f.call_id and not f.matched and f.group in (base, None):
            queues.setdefault(f.name, []).append(f)
    messages = []
    changed = False
    for m in s.messages:
        if m.role == "tool" and m.result is not None:
            fact = by_id.get(m.tool_call_id or "\0")
            if fact is None and queues.get(m.name or ""):
                fact = queues[m.name or ""].pop(0)
            if fact is not None:
                m = m.model_copy(update={"result": m.result.model_copy(update={
                    "latency_ms": fact.latency_ms if fact.latency_ms is not None
                    else m.result.latency_ms,
                    "is_error": m.result.is_error or fact.is_error})})
                fact.matched = True
                changed = True
        messages.append(m)
    return s.model_copy(update={"messages": messages}) if changed else s

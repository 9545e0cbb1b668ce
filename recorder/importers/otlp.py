"""Trace files → spans: OTLP JSON, OTLP protobuf, and span-per-line JSON.

Both the `otel` and the `openinference` importers read their spans here, from whichever form
the file has:
- OTLP/JSON (`{"resourceSpans": [...]}`; logs `{"resourceLogs": [...]}`), one document for the
  file or one per line, as the OTLP/HTTP JSON exporter and the collector's file exporter write;
- OTLP protobuf: one `ExportTraceServiceRequest` (an OTLP/HTTP body), or the collector file
  exporter's stream of messages each preceded by its length (4 bytes, big-endian);
- one span object per line (or a JSON list of them) in the shape Phoenix and Arize export:
  `context.trace_id` / `span_id`, `parent_id`, ISO `start_time` / `end_time`, `status_code`,
  `attributes` flat or nested.
Log records that are events (`eventName` or an `event.name` attribute: the older GenAI message
events) join the span they name as events, body included.

A file that is not one of these, or a line or span that breaks the shape, is an error naming
the file and the line or span: nothing is guessed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recorder.errors import UsageError

# attributes whose value is a JSON document of its own: kept whole when nested attributes are
# flattened to dotted keys
WHOLE = frozenset({"gen_ai.input.messages", "gen_ai.output.messages",
                   "gen_ai.system_instructions", "gen_ai.tool.definitions",
                   "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "metadata",
                   "input.value", "output.value", "llm.invocation_parameters"})


@dataclass
class SpanEvent:
    """A span event, or a log record that is an event of a span."""

    name: str
    time: float
    attrs: dict[str, Any]
    body: Any = None
    """The event body (log records, or a `body` / `event.body` the exporter kept)."""


@dataclass
class Span:
    """One span, attributes as plain values (nested ones flattened to dotted keys)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: float
    end: float
    attrs: dict[str, Any]
    resource: dict[str, Any]
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None
    """The status message (or `error`) when the span's status is ERROR."""
    where: str = ""
    """`span ab12 (line 3 of traces.jsonl)`: how problems name it."""

    def get(self, key: str) -> Any:
        """A span attribute, else a resource attribute."""
        return self.attrs[key] if key in self.attrs else self.resource.get(key)


def malformed(where: str, what: str) -> UsageError:
    return UsageError(f"{where} {what}; fix or remove it, then import again.")


def attr_value(v: Any) -> Any:
    """An OTLP JSON `AnyValue` as a plain value."""
    if not isinstance(v, dict):
        return v
    for key, conv in (("stringValue", str), ("intValue", int), ("doubleValue", float),
                      ("boolValue", bool)):
        if key in v:
            return conv(v[key])
    if "arrayValue" in v:
        return [attr_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return attrs((v["kvlistValue"] or {}).get("values", []))
    return v.get("bytesValue")


def attrs(items: Any) -> dict[str, Any]:
    """OTLP `attributes` (a list of key/value) as a dict."""
    if not isinstance(items, list):
        raise ValueError("`attributes` is not a list of key/value objects")
    return {a["key"]: attr_value(a.get("value")) for a in items
            if isinstance(a, dict) and "key" in a}


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested attributes as dotted keys (`llm.input_messages.0.message.role`); lists of
    scalars and the JSON-valued attributes in `WHOLE` stay whole."""
    out: dict[str, Any] = {}
    for key, v in value.items():
        name = f"{prefix}{key}"
        if name in WHOLE:
            out[name] = v
        elif isinstance(v, dict):
            out.update(flatten(v, name + "."))
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            out.update(flatten({str(i): x for i, x in enumerate(v)}, name + "."))
        else:
            out[name] = v
    return out


def read_spans(path: str) -> list[Span]:
    """Every span of a trace file, with its log-record events attached."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"The file {path} cannot be read ({exc.strerror}); check the "
                         "path.") from exc
    stem = os.path.basename(path)
    spans: list[Span] = []
    logs: list[tuple[str, SpanEvent, str]] = []
    if data.lstrip()[:1] in (b"{", b"["):
        for where, doc in _json_documents(data, stem):
            _document(doc, where, spans, logs)
    elif data.strip():
        for where, doc in _protobuf_documents(data, stem):
            _document(doc, where, spans, logs)
    by_id = {s.span_id: s for s in spans}
    for span_id, event, where in logs:
        if span_id not in by_id:
            raise malformed(where, f"is a `{event.name}` event of span {span_id or '(none)'}, "
                            "which is not in the file; import the traces with their logs")
        by_id[span_id].events.append(event)
    return spans


def _json_documents(data: bytes, stem: str) -> Iterator[tuple[str, Any]]:
    try:
        yield stem, json.loads(data)
        return
    except ValueError:
        pass
    for n, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                yield f"line {n} of {stem}", json.loads(line)
            except ValueError as exc:
                raise malformed(f"line {n} of {stem}", f"is not valid JSON ({exc})") from None


def _protobuf_documents(data: bytes, stem: str) -> Iterator[tuple[str, Any]]:
    """OTLP protobuf as OTLP JSON dicts (ids in hex, as the JSON encoding has them)."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    # a bare message starts with field 1's tag (0x0a); a length-prefixed stream with the high
    # byte of a length, 0 for any message under 16 MiB
    chunks: list[tuple[str, bytes]] = []
    if data[:1] == b"\x0a":
        chunks.append((stem, data))
    else:
        pos, n = 0, 0
        while pos < len(data):
            n += 1
            size = int.from_bytes(data[pos:pos + 4], "big")
            if pos + 4 + size > len(data):
                raise malformed(f"message {n} of {stem}", "is cut short, or the file is not "
                                "OTLP (JSON or protobuf) at all")
            chunks.append((f"message {n} of {stem}", data[pos + 4:pos + 4 + size]))
            pos += 4 + size
    for where, chunk in chunks:
        msg = ExportTraceServiceRequest()
        try:
            msg.ParseFromString(chunk)
        except DecodeError as exc:
            raise malformed(where, f"is neither OTLP JSON nor an OTLP protobuf trace export "
                            f"({exc})") from None
        if not msg.resource_spans:
            raise malformed(where, "holds no OTLP spans (is it an OTLP trace export?)")
        doc = MessageToDict(msg)
        for rs in doc.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in s:
                            s[key] = base64.b64decode(s[key]).hex()
        yield where, doc


def _document(doc: Any, where: str, spans: list[Span],
              logs: list[tuple[str, SpanEvent, str]]) -> None:
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if not isinstance(item, dict):
            raise malformed(where, "is not a JSON object (an OTLP export or a span)")
        try:
            if "resourceSpans" in item or "resource_spans" in item:
                _otlp_spans(item, where, spans)
            elif "resourceLogs" in item or "resource_logs" in item:
                _otlp_logs(item, where, logs)
            elif "context" in item or "span_id" in item:
                spans.append(_flat_span(item, where))
            else:
                raise ValueError("is neither an OTLP export (`resourceSpans`) nor a span "
                                 "(`context`)")
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            if isinstance(exc, UsageError):
                raise
            sid = (item.get("context") or {}).get("span_id") if isinstance(
                item.get("context"), dict) else item.get("span_id")
            place = f"span {sid} ({where})" if sid else where
            raise malformed(place, str(exc) if str(exc).startswith(("is ", "has ")) else
                            f"does not have the OTLP shape ({exc})") from None


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    return d[camel] if camel in d else d.get(snake)


def _nanos(v: Any) -> float:
    return int(v or 0) / 1e9


def _otlp_spans(doc: dict[str, Any], where: str, spans: list[Span]) -> None:
    for rs in _get(doc, "resourceSpans", "resource_spans") or []:
        resource = attrs((rs.get("resource") or {}).get("attributes") or [])
        for scope in _get(rs, "scopeSpans", "scope_spans") or []:
            for s in scope.get("spans") or []:
                sid = str(_get(s, "spanId", "span_id") or "")
                status = s.get("status") or {}
                failed = status.get("code") in (2, "STATUS_CODE_ERROR", "ERROR")
                events = [SpanEvent(str(e.get("name", "")), _nanos(_get(e, "timeUnixNano",
                                                                       "time_unix_nano")),
                                    attrs(e.get("attributes") or []), _body(e))
                          for e in s.get("events") or []]
                spans.append(Span(
                    trace_id=str(_get(s, "traceId", "trace_id") or ""), span_id=sid,
                    parent_id=str(_get(s, "parentSpanId", "parent_span_id") or ""),
                    name=str(s.get("name", "")),
                    start=_nanos(_get(s, "startTimeUnixNano", "start_time_unix_nano")),
                    end=_nanos(_get(s, "endTimeUnixNano", "end_time_unix_nano")),
                    attrs=attrs(s.get("attributes") or []), resource=resource, events=events,
                    error=str(status.get("message") or "error") if failed else None,
                    where=f"span {sid} ({where})"))


def _body(e: dict[str, Any]) -> Any:
    """An event's body: OTLP log records and some exporters carry one beside the attributes."""
    return attr_value(e["body"]) if "body" in e else None


def _otlp_logs(doc: dict[str, Any], where: str,
               logs: list[tuple[str, SpanEvent, str]]) -> None:
    for rl in _get(doc, "resourceLogs", "resource_logs") or []:
        for scope in _get(rl, "scopeLogs", "scope_logs") or []:
            for r in _get(scope, "logRecords", "log_records") or []:
                a = attrs(r.get("attributes") or [])
                name = _get(r, "eventName", "event_name") or a.get("event.name")
                if not name:
                    continue  # a plain log line, not an event of a span
                time = _nanos(_get(r, "timeUnixNano", "time_unix_nano"))
                logs.append((str(_get(r, "spanId", "span_id") or ""),
                             SpanEvent(str(name), time, a, _body(r)),
                             f"the `{name}` log record ({where})"))


def _iso(v: Any) -> float:
    if isinstance(v, int | float):
        return float(v) / (1e9 if v > 1e12 else 1)
    return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp() if v else 0.0


def _flat_span(s: dict[str, Any], where: str) -> Span:
    ctx = s.get("context") or {}
    sid = str(ctx.get("span_id") or s.get("span_id") or "")
    raw = s.get("attributes") or {}
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise ValueError("has `attributes` that are not an object")
    status = str(s.get("status_code") or "")
    events = [SpanEvent(str(e.get("name", "")), _iso(e.get("timestamp")),
                        flatten(e.get("attributes") or {}), e.get("body"))
              for e in s.get("events") or [] if isinstance(e, dict)]
    return Span(trace_id=str(ctx.get("trace_id") or s.get("trace_id") or ""), span_id=sid,
                parent_id=str(s.get("parent_id") or ""), name=str(s.get("name", "")),
                start=_iso(s.get("start_time")), end=_iso(s.get("end_time")),
                attrs=flatten(raw), resource={}, events=events,
                error=str(s.get("status_message") or "error") if status in (
                    "ERROR", "STATUS_CODE_ERROR") else None,
                where=f"span {sid} ({where})")

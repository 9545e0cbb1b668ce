"""Server-sent events: the wire framing of every streamed LLM and MCP response.

Follows the WHATWG event-stream rules: lines end in LF, CRLF or CR; `data:` lines of one event
are joined with LF; `event:` names it; `id:` sets its id; lines starting with `:` are comments;
a blank line dispatches the event. A stream that ends without a blank line after its last event
was cut off: the partial event is still returned and the truncation reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.fastjson import loads


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event."""

    data: str
    event: str | None = None
    id: str | None = None


def parse_sse(data: bytes) -> tuple[list[SseEvent], list[str]]:
    """Every event of an event stream, and the problems found (invalid UTF-8, truncation)."""
    problems: list[str] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"the event stream is not valid UTF-8 (byte {exc.start}); "
                        "bad bytes were replaced")
        text = data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    events: list[SseEvent] = []
    last_id: str | None = None
    blocks = text.split("\n\n")
    tail = blocks.pop()  # what follows the last blank line: empty when the stream is complete
    for block in blocks:
        if block.startswith("data: ") and "\n" not in block:  # the common one-line event
            events.append(SseEvent(block[6:], None, last_id))
            continue
        if block.startswith("event: "):  # the common named event: `event: X` + one data line
            nl = block.find("\n")
            if block.startswith("data: ", nl + 1) and block.find("\n", nl + 1) < 0:
                events.append(SseEvent(block[nl + 7:], block[7:nl], last_id))
                continue
        event, last_id = _event(block.split("\n"), last_id)
        if event is not None:
            events.append(event)
    tail_lines = tail.split("\n")
    if any(line and not line.startswith(":") for line in tail_lines):
        event, _ = _event(tail_lines, last_id)
        if event is not None:
            events.append(event)
        problems.append("the event stream ends in the middle of an event (truncated)")
    return events, problems


def _event(lines: list[str], last_id: str | None) -> tuple[SseEvent | None, str | None]:
    """The event one block of lines dispatches (None when it has no data), and the last id."""
    data_lines: list[str] = []
    name: str | None = None
    for line in lines:
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data_lines.append(value)
        elif field == "event":
            name = value
        elif field == "id":
            last_id = value
    if not data_lines:
        return None, last_id
    return SseEvent("\n".join(data_lines), name, last_id), last_id


def decode_json_events(events: list[SseEvent]) -> list[Any]:
    """Every event's data as JSON: the value, or the `ValueError` when it is not JSON.

    One decoding (`recorder.fastjson.loads`) of all events joined as an array when they are
    all valid, which is much cheaper than one call per event; event by event otherwise, to say
    which failed."""
    if not events:
        return []
    try:
        values = loads("[" + ",".join(e.data for e in events) + "]")
        if isinstance(values, list) and len(values) == len(events):
            return values
    except ValueError:
        pass
    out: list[Any] = []
    for e in events:
        try:
            out.append(loads(e.data))
        except ValueError as exc:
            out.append(exc)
    return out


def event_object(n: int, value: Any, problems: list[str]) -> dict[str, Any] | None:
    """The n-th (from 0) event's data as `decode_json_events` gave it, when it is a JSON
    object; else None, with what it is instead added to `problems`."""
    if isinstance(value, ValueError):
        problems.append(f"stream event #{n + 1} is not valid JSON ({value})")
        return None
    if not isinstance(value, dict):
        problems.append(f"stream event #{n + 1} is not a JSON object")
        return None
    return value


def is_event_stream(content_type: str | None) -> bool:
    """True for a `text/event-stream` content type."""
    return bool(content_type) and "text/event-stream" in (content_type or "").lower()

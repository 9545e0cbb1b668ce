"""Server-sent events: the wire framing of every streamed LLM and MCP response.

Follows the WHATWG event-stream rules: lines end in LF, CRLF or CR; `data:` lines of one event
are joined with LF; `event:` names it; `id:` sets its id; lines starting with `:` are comments;
a blank line dispatches the event. A stream that ends without a blank line after its last event
was cut off: the partial event is still returned and the truncation reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


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
    events: list[SseEvent] = []
    data_lines: list[str] = []
    name: str | None = None
    last_id: str | None = None
    pending = False
    lines = _LINE_END.split(text)
    complete = len(lines) > 1 and lines[-1] == ""  # the stream ended at a line end
    if complete:
        lines.pop()
    for line in lines:
        if line == "":
            if data_lines:
                events.append(SseEvent("\n".join(data_lines), name, last_id))
            data_lines, name, pending = [], None, False
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        pending = True
        if field == "data":
            data_lines.append(value)
        elif field == "event":
            name = value
        elif field == "id":
            last_id = value
    if pending:
        if data_lines:
            events.append(SseEvent("\n".join(data_lines), name, last_id))
        problems.append("the event stream ends in the middle of an event (truncated)")
    return events, problems


def is_event_stream(content_type: str | None) -> bool:
    """True for a `text/event-stream` content type."""
    return bool(content_type) and "text/event-stream" in (content_type or "").lower()

"""What a call nothing could answer gets: the tool's own error, in the tool's own form, and
never a word about the replay.

A model that reads "stub miss" or "no recording" in a tool result knows it is being tested
and behaves accordingly, so a miss answers the way the tool itself fails. Why the call missed
(the closest recorded calls, the diff) goes to the answer's diagnostics — the run manifest and
the serve log — never to the answer.

    function, mcp  the tool's most common recorded error that names nothing of its own call
                   (`Error: HTTP 503: Service Unavailable`), else the MCP SDKs' own wording:
                   `Error executing tool NAME`, or `Unknown tool: NAME` for a tool never
                   recorded (an MCP `CallToolResult` with `isError` for mcp tools)
    http           a recorded error reply of that kind (the endpoint's own, else the route's)
                   that names nothing of its call, else 500 (404 for a path the route never
                   recorded) with a body in the form of the route's recorded ones: JSON in the
                   route's error layout (`{"detail": ...}`, `{"error": ...}`, ...) or text

MCP protocol-level misses (an unrecorded list or read method) are the MCP transport's
(`proxy.replay.mcp_protocol`); tool calls on every transport go through here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from recorder.recorded_tool_call import ToolKind
from stubs.index import StubIndex, ToolTable
from stubs.reply import Reply, Row, error_reply

_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]+")
"""Argument words (ids, path segments, names); numbers count from 3 digits."""
_MESSAGE_KEYS = ("detail", "error", "message", "msg", "title", "description", "reason")


def is_error_row(row: Row) -> bool:
    """Whether a recorded call failed (an error result, a JSON-RPC error, an HTTP error)."""
    return bool(row.is_error or row.mcp_error is not None
                or (row.status is not None and row.status >= 400))


def _words(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _words(v)
    elif isinstance(value, list):
        for v in value:
            yield from _words(v)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield from _TOKEN.findall(str(value))


def names_its_call(row: Row, name: str) -> bool:
    """Whether a recorded error mentions its own call (an id, a path, a value it was given):
    such an error belongs to that call and would mislead any other."""
    text = row.content.lower()
    if row.body:
        text += row.body.decode("utf-8", "replace").lower()
    words = set(_words(row.arguments)) | set(_TOKEN.findall(name.partition(" ")[2]))
    return any(w.lower() in text for w in words if not w.isdigit() or len(w) >= 3)


class MissReplies:
    """Builds (and remembers, per tool and route) the error a miss answers with."""

    def __init__(self, index: StubIndex) -> None:
        self.index = index
        self._tool: dict[int, Reply | None] = {}
        self._route: dict[tuple[str, str | None, bool], Reply | None] = {}
        self._layout: dict[tuple[str, str | None], dict[str, Any] | None] = {}

    def reply(self, kind: ToolKind, server: str | None, name: str,
              table: ToolTable | None) -> Reply:
        """The tool's own error for a call of `name` (`table`: its recordings, None when the
        tool was never recorded)."""
        if kind == "http":
            return self._http(server, name, table)
        if table is not None:
            recorded = self._generic(table)
            if recorded is not None:
                return _as_kind(kind, recorded)
            return error_reply(kind, f"Error executing tool {name}")
        return error_reply(kind, f"Unknown tool: {name}")

    # -- recorded errors ------------------------------------------------------------------

    def _generic(self, table: ToolTable) -> Reply | None:
        """The tool's most common recorded error that names nothing of its call, or None."""
        if table.number not in self._tool:
            self._tool[table.number] = _most_common(
                row for row in self.index.iter_rows(table.rows)
                if is_error_row(row) and not names_its_call(row, table.tool.name))
        return self._tool[table.number]

    def _route_generic(self, server: str | None, not_found: bool) -> Reply | None:
        """The route's most common recorded generic error: a 404 for an unknown path, a 5xx
        otherwise."""
        slot = ("http", server, not_found)
        if slot not in self._route:
            rows = (row for t in self._route_tables(server) for row in
                    self.index.iter_rows(t.rows)
                    if is_error_row(row) and row.status is not None
                    and (row.status == 404 if not_found else row.status >= 500)
                    and not names_its_call(row, t.tool.name))
            self._route[slot] = _most_common(rows)
        return self._route[slot]

    def _route_tables(self, server: str | None) -> list[ToolTable]:
        return [t for t in self.index.tables if t.tool.kind == "http" and t.tool.server == server]

    # -- http -----------------------------------------------------------------------------

    def _http(self, server: str | None, name: str, table: ToolTable | None) -> Reply:
        recorded = self._generic(table) if table is not None else None
        if recorded is None or recorded.status is None:
            recorded = self._route_generic(server, not_found=table is None)
        if recorded is not None:
            return recorded
        status = 404 if table is None else 500
        phrase = HTTPStatus(status).phrase
        layout = self._error_layout(server)
        if layout is None:
            body = phrase.encode()
            return Reply(content=phrase, is_error=True, status=status, body=body,
                         headers=(("content-type", "text/plain; charset=utf-8"),
                                  ("content-length", str(len(body)))))
        doc = _fill(layout, status, phrase)
        text = json.dumps(doc)
        return Reply(content=text, structured=doc, is_error=True, status=status,
                     body=text.encode(),
                     headers=(("content-type", "application/json"),
                              ("content-length", str(len(text.encode())))))

    def _error_layout(self, server: str | None) -> dict[str, Any] | None:
        """The layout of the route's recorded JSON error bodies (`{"detail": ...}`, ...), a
        default JSON layout when the route answers JSON, None when it answers text."""
        slot = ("http", server)
        if slot not in self._layout:
            layout: dict[str, Any] | None = None
            json_seen = False
            for t in self._route_tables(server):
                for row in self.index.iter_rows(t.rows):
                    doc = _json(row.body)
                    if doc is None:
                        continue
                    json_seen = True
                    if is_error_row(row) and isinstance(doc, dict):
                        layout = _layout_of(doc)
                        if layout is not None:
                            break
                if layout is not None:
                    break
            if layout is None and (json_seen or not self._route_tables(server)):
                layout = {"error": {"code": "<status>", "message": "<phrase>"}}
            self._layout[slot] = layout
        return self._layout[slot]


def _most_common(rows: Iterator[Row]) -> Reply | None:
    counts: Counter[str] = Counter()
    first: dict[str, Row] = {}
    for row in rows:
        key = row.content + "\0" + (row.body or b"").decode("utf-8", "replace")
        counts[key] += 1
        first.setdefault(key, row)
    if not counts:
        return None
    best = max(counts, key=lambda k: counts[k])  # the first recorded among equals
    return Reply.from_row(first[best]).with_(latency_ms=None, exchange_id=None)


def _as_kind(kind: ToolKind, reply: Reply) -> Reply:
    """A recorded error answering on another transport keeps its text."""
    if kind == "mcp" and reply.mcp_result is None and reply.mcp_error is None:
        return error_reply("mcp", reply.content)
    return reply


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _layout_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The keys an error body puts its message under, with placeholders."""
    for key in _MESSAGE_KEYS:
        value = doc.get(key)
        if isinstance(value, str):
            return {key: "<phrase>"}
        if isinstance(value, dict):
            inner = {k: "<phrase>" for k in _MESSAGE_KEYS[1:] if isinstance(value.get(k), str)}
            for k in ("code", "status"):
                if isinstance(value.get(k), int):
                    inner[k] = "<status>"
            if inner:
                return {key: inner}
    return None


def _fill(layout: dict[str, Any], status: int, phrase: str) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return status if value == "<status>" else phrase if value == "<phrase>" else value

    out: dict[str, Any] = fill(layout)
    return out

"""Recorded tool calls and MCP server catalogues from a corpus: what stubs are built from.

    >>> for call in extract_tool_calls(Corpus("recordings/")): ...     # doctest: +SKIP
    >>> servers = extract_mcp_servers(Corpus("recordings/"))            # doctest: +SKIP

- `function` calls come from sessions: each assistant tool call with its tool message's result.
- `mcp` calls come from raw `tools/call` exchanges (arguments without `_meta`, the whole
  result object, `isError`, JSON-RPC errors).
- `http` calls come from exchanges under tool routes: name `METHOD /path`, arguments
  `{"query": ..., "body": ...}`, the whole reply.
A call's `session_id` is the session it was attached to (stored sessions say so through their
`source.exchange_ids`; otherwise sessions are derived on the fly); `index` is its position
among that session's calls of the same kind (or its route's, when unattached).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from recorder.corpus import Corpus
from recorder.derive import derive
from recorder.derive_tools import ToolUse, tool_uses
from recorder.exchange import Exchange
from recorder.protocols import parse_exchange
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of
from recorder.protocols.mcp import META_SERVER_INFO, META_VERSION
from recorder.recorded_tool_call import HttpReply, McpServerRecord, RecordedToolCall
from recorder.records import Record
from recorder.session import Session, ToolResult
from recorder.sessions_of import sessions_of

__all__ = ["extract_mcp_servers", "extract_tool_calls", "sessions_of"]


def _split(source: Iterable[Record] | Corpus) -> tuple[list[Exchange], list[Session]]:
    if isinstance(source, Corpus):
        exchanges = list(source.exchanges())
        sessions = list(source.sessions())
    else:
        exchanges, sessions = [], []
        for r in source:
            if isinstance(r, Exchange):
                exchanges.append(r)
            elif isinstance(r, Session):
                sessions.append(r)
    return exchanges, sessions


def function_calls(sessions: Iterable[Session]) -> Iterator[RecordedToolCall]:
    """Recorded assistant tool calls of sessions, each with the result its tool message
    carried (messages a replay generated are left out)."""
    for s in sessions:
        pending: dict[str, Any] = {}
        starts: dict[str, float | None] = {}
        n = 0
        for m in s.messages:
            if m.origin == "generated":  # a replay's candidate or stub: not a recording
                continue
            for c in m.tool_calls:
                pending[c.id] = (c, m.exchange_id)
            if m.role == "tool" and m.tool_call_id in pending:
                c, exchange_id = pending.pop(m.tool_call_id)
                result = m.result or ToolResult(content=m.text)
                yield RecordedToolCall(kind="function", server=c.server, name=c.name,
                                       arguments=c.arguments, result=result, session_id=s.id,
                                       index=n, exchange_id=exchange_id,
                                       started_at=starts.get(c.id))
                n += 1


def extract_tool_calls(source: Iterable[Record] | Corpus) -> Iterator[RecordedToolCall]:
    """Every recorded tool call of a corpus or record stream: function, mcp and http."""
    exchanges, stored = _split(source)
    if stored:
        sessions = stored
        attached = {eid: s.id for s in stored if s.source.type != "tool_only"
                    for eid in s.source.exchange_ids}
        uses: list[ToolUse] = []
        for ex in exchanges:
            uses.extend(tool_uses(ex, parse_exchange(ex), ex.session_hint))
        uses.sort(key=lambda u: (u.started_at, u.exchange_id, u.position))
    else:
        d = derive(exchanges)
        sessions = [s for s in d.sessions if s.source.type != "tool_only"]
        attached, uses = d.attached, d.tool_uses
    yield from function_calls(sessions)
    by_id = {ex.id: ex for ex in exchanges}
    counters: Counter[tuple[str, str | None]] = Counter()
    for u in uses:
        session_id = attached.get(u.exchange_id)
        key = (u.kind, session_id if session_id is not None else f"route:{u.server}")
        index = counters[key]
        counters[key] += 1
        result = ToolResult(content=u.text, structured=u.structured, is_error=u.is_error,
                            latency_ms=u.latency_ms, exchange_id=u.exchange_id)
        http = _http_reply(by_id[u.exchange_id]) if u.kind == "http" else None
        yield RecordedToolCall(kind=u.kind, server=u.server, name=u.name,
                               arguments=u.arguments, result=result, session_id=session_id,
                               index=index, exchange_id=u.exchange_id, started_at=u.started_at,
                               http=http, mcp_result=u.mcp_result, mcp_error=u.mcp_error)


def _http_reply(ex: Exchange) -> HttpReply | None:
    if ex.response is None:
        return None
    body = ex.response.body
    headers = ex.response.headers
    try:
        decoded = decode_body(body, encodings_of(headers))
    except BodyDecodeError:
        decoded = body
    else:
        if decoded is not body:  # the reply is stored decoded: drop the coding headers with it
            headers = [(k, v) for k, v in headers
                       if k.lower() not in ("content-encoding", "content-length")]
    return HttpReply(status=ex.response.status, headers=headers, body=decoded)


def extract_mcp_servers(source: Iterable[Record] | Corpus) -> dict[str | None, McpServerRecord]:
    """What each recorded MCP server (by route) said about itself: info, capabilities, tools."""
    found: dict[str | None, dict[str, Any]] = {}
    records: Iterable[Any] = source.exchanges() if isinstance(source, Corpus) else source
    for ex in records:
        if not isinstance(ex, Exchange):
            continue
        parsed = parse_exchange(ex)
        if parsed.mcp is None:
            continue
        entry = found.setdefault(ex.route, {"server": ex.route, "tools": {}})
        if parsed.mcp.protocol_version:
            entry["protocol_version"] = parsed.mcp.protocol_version
        for call in parsed.mcp.calls:
            reply = call.reply
            result = reply.result if reply is not None and reply.kind == "result" else None
            if not isinstance(result, dict):
                continue
            method = call.request.method
            if method in ("initialize", "server/discover"):
                entry["init_result"] = result
                meta = result.get("_meta")
                info = result.get("serverInfo") or (
                    meta.get(META_SERVER_INFO) if isinstance(meta, dict) else None)
                if isinstance(info, dict):
                    entry["server_info"] = info
                if isinstance(result.get("capabilities"), dict):
                    entry["capabilities"] = result["capabilities"]
                if isinstance(result.get("instructions"), str):
                    entry["instructions"] = result["instructions"]
                version = result.get("protocolVersion") or (call.request.meta or {}).get(
                    META_VERSION)
                if isinstance(version, str):
                    entry["protocol_version"] = version
            elif method == "tools/list":
                for tool in result.get("tools") or []:
                    if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                        entry["tools"][tool["name"]] = tool
            elif isinstance(result.get("_meta"), dict) and "server_info" not in entry:
                info = result["_meta"].get(META_SERVER_INFO)
                if isinstance(info, dict):
                    entry["server_info"] = info
    return {route: McpServerRecord(**{**e, "tools": list(e["tools"].values())})
            for route, e in found.items()}

"""Session records from threaded conversations: ids, messages (tool names and servers filled
in), tools, parameters, labels, time span and provenance; and tool-only sessions for the tool
traffic no conversation claimed."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from recorder.derive_tools import ToolUse
from recorder.derive_tree import SessionPath, labels_of
from recorder.protocols.light import LMessage
from recorder.session import ContentPart, Message, Session, SessionSource, ToolDef, ToolResult


def _sid(*parts: str) -> str:
    return "s-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Housekeeping:
    """An MCP exchange without tool calls (initialize, list, notifications): only its time
    span joins a session."""

    id: str
    started_at: float
    ended_at: float
    hint: str | None
    mcp_session: str | None


def session_ids(paths: list[SessionPath]) -> dict[int, str]:
    """Session id per path: the explicit id (`~N` for its further chains), else a hash of the
    first exchange (and of the fork point for forks)."""
    ids: dict[int, str] = {}
    per_group: Counter[str] = Counter()
    for path in sorted(paths, key=lambda p: (p.root.started_at, p.root.exchange_id)):
        if path.group is not None:
            per_group[path.group] += 1
            n = per_group[path.group]
            ids[id(path)] = path.group if n == 1 else f"{path.group}~{n}"
        elif path.fork_of is None:
            ids[id(path)] = _sid(path.root.exchange_id)
        else:
            ids[id(path)] = _sid(path.root.exchange_id, path.fork_of.exchange_id)
    return ids


def build_session(path: SessionPath, sid: str, uses: list[ToolUse], extra: list[Housekeeping],
                  routes: dict[str, str | None], source: SessionSource | None = None) -> Session:
    """The session of one path, with the tool uses and housekeeping attached to it."""
    _name_and_serve(path.messages, routes)
    tools: dict[str, ToolDef] = {}
    for n in path.calls:
        for t in n.call.tools:
            tools[t.name] = t
    last = path.last or path.root
    labels = labels_of(path.calls)
    if last.call.model:
        labels["model"] = last.call.model
    times = [(n.started_at, n.ended_at, n.exchange_id) for n in path.calls]
    times += [(u.started_at, u.ended_at, u.exchange_id) for u in uses]
    times += [(e.started_at, e.ended_at, e.id) for e in extra]
    times.sort()
    src = source or SessionSource(type="recorded",
                                  exchange_ids=list(dict.fromkeys(t[2] for t in times)))
    # one validation of plain data for the whole session: far cheaper than model by model
    return Session.model_validate({
        "id": sid, "messages": [m.to_dict() for m in path.messages],
        "tools": list(tools.values()), "params": dict(last.call.params),
        "labels": {k: str(v) for k, v in labels.items()}, "source": src,
        "started_at": times[0][0] if times else None,
        "ended_at": max(t[1] for t in times) if times else None,
    })


def _name_and_serve(messages: list[LMessage], routes: dict[str, str | None]) -> None:
    """Fill tool messages' tool names, and the tool calls' server from attached exchanges.

    Mutates the light messages in place: what it fills depends only on the ids, so a message
    shared by two forks gets the same answer in both."""
    names: dict[str, str] = {}
    servers: dict[str, str] = {}
    for m in messages:
        if m.role == "tool" and m.result is not None and m.result.exchange_id in routes:
            server = routes[m.result.exchange_id]
            if server and m.tool_call_id:
                servers[m.tool_call_id] = server
    for m in messages:
        for c in m.tool_calls:
            names[c.id] = c.name
            if c.id in servers:
                c.server = servers[c.id]
        if m.role == "tool" and m.name is None and m.tool_call_id in names:
            m.name = names[m.tool_call_id or ""]


def tool_only_sessions(uses: list[ToolUse]) -> list[Session]:
    """Unattached tool calls as `tool_only` sessions, one per (route, MCP session or hint)."""
    groups: dict[tuple[str | None, str], list[ToolUse]] = {}
    for u in uses:
        groups.setdefault((u.server, u.mcp_session or u.hint or ""), []).append(u)
    out = []
    for (server, key), members in groups.items():
        messages = [Message(
            role="tool", name=u.name, tool_call_id=f"{u.exchange_id}#{u.position}",
            content=[ContentPart(text=u.text), ContentPart(type="json",
                                                           data={"arguments": u.arguments})],
            result=ToolResult(content=u.text, structured=u.structured, is_error=u.is_error,
                              latency_ms=u.latency_ms, exchange_id=u.exchange_id))
            for u in members]
        labels = {"route": server} if server else {}
        for u in members:
            for k, v in u.labels.items():
                labels.setdefault(k, v)
        out.append(Session(
            id="tools-" + hashlib.sha256(f"{server}|{key}|{members[0].exchange_id}".encode())
            .hexdigest()[:16],
            messages=messages, labels=labels,
            source=SessionSource(type="tool_only",
                                 exchange_ids=list(dict.fromkeys(u.exchange_id for u in members))),
            started_at=members[0].started_at, ended_at=max(u.ended_at for u in members)))
    return out

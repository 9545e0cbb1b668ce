"""Derive sessions from raw exchanges: parse every exchange, thread the LLM calls into
conversations, attach tool traffic to the sessions that issued it.

    >>> result = derive(corpus.exchanges())           # doctest: +SKIP
    >>> result.sessions, result.problems

Rules, in order of precedence (details in docs/recording.md):
1. An explicit session header (`X-Deploysim-Session` by default; the proxy stores it as the
   exchange's `session_hint`) groups calls into one session whatever their content.
2. Responses API calls chain by `previous_response_id`.
3. Otherwise prefix chaining: a request continues the call whose request + answer is its
   longest prefix; forks become separate sessions; retries never add turns
   (`recorder.derive_tree`).
4. MCP and HTTP tool exchanges attach to the session that issued them
   (`recorder.derive_tools`); unattached ones become `tool_only` sessions.
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from recorder.derive_tools import Attacher, ToolUse, tool_uses
from recorder.derive_tree import CallNode, Forest, SessionPath, labels_of, session_paths
from recorder.exchange import Exchange
from recorder.protocols import parse_exchange
from recorder.protocols.bodies import header_value
from recorder.protocols.light import LMessage
from recorder.session import ContentPart, Message, Session, SessionSource, ToolDef, ToolResult

DEFAULT_SESSION_HEADER = "X-Deploysim-Session"
DEFAULT_SEGMENT_HEADER = "X-Deploysim-Segment"


@dataclass(frozen=True)
class DeriveOptions:
    """Which headers name sessions and segments when an exchange has no hint/label yet."""

    session_header: str = DEFAULT_SESSION_HEADER
    segment_header: str = DEFAULT_SEGMENT_HEADER


@dataclass
class Derivation:
    """What deriving a set of exchanges produced."""

    sessions: list[Session] = field(default_factory=list)
    """LLM sessions (in order of their first call), then tool-only sessions."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Exchange id → parse/threading problems found now (not already on the exchange)."""
    protocols: Counter[str] = field(default_factory=Counter)
    """Exchanges per detected protocol."""
    tool_uses: list[ToolUse] = field(default_factory=list)
    """Every MCP/HTTP tool call seen, in time order."""
    attached: dict[str, str] = field(default_factory=dict)
    """Tool exchange id → id of the LLM session it was attached to."""


def _sid(*parts: str) -> str:
    return "s-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while deriving.

    Deriving allocates millions of small objects while the whole corpus is alive; every full
    collection re-scans all of them, which made derivation about twice as slow and worse than
    linear in the corpus size. Nothing here needs cycle collection midway (the few cycles,
    parent/child links, are freed once the collector runs again afterwards)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def derive(exchanges: Iterable[Exchange], options: DeriveOptions | None = None) -> Derivation:
    """Parse, thread and attach; never raises on bad traffic (problems are collected)."""
    with _cyclic_gc_paused():
        return _derive(exchanges, options or DeriveOptions())


def _derive(exchanges: Iterable[Exchange], opts: DeriveOptions) -> Derivation:
    result = Derivation()
    nodes: list[tuple[float, int, CallNode]] = []
    uses: list[ToolUse] = []
    housekeeping: list[tuple[Exchange, str | None, str | None]] = []
    for seq, ex in enumerate(exchanges):
        parsed = parse_exchange(ex)
        result.protocols[parsed.protocol] += 1
        problems = list(parsed.problems)
        hint = ex.session_hint or header_value(ex.request.headers, opts.session_header)
        labels = dict(ex.labels)
        if "segment" not in labels:
            segment = header_value(ex.request.headers, opts.segment_header)
            if segment:
                labels["segment"] = segment
        if parsed.llm is not None:
            if parsed.llm.model:
                labels["model"] = parsed.llm.model
            node = CallNode(ex.id, ex.started_at, ex.ended_at, hint, parsed.llm, labels)
            nodes.append((ex.started_at, seq, node))
        else:
            found = tool_uses(ex, parsed, hint)
            uses.extend(found)
            if not found and parsed.mcp is not None:
                housekeeping.append((ex, hint, parsed.mcp.session_id))
        if problems:
            result.problems[ex.id] = problems
    paths = thread([n for _, _, n in sorted(nodes, key=lambda t: (t[0], t[1]))],
                   result.problems)
    attacher = Attacher(paths)
    per_path: dict[int, list[ToolUse]] = {}
    by_mcp_session: dict[str, SessionPath] = {}
    unattached: list[ToolUse] = []
    uses.sort(key=lambda u: (u.started_at, u.exchange_id, u.position))
    for use in uses:
        joined = attacher.attach(use)
        if not joined:
            unattached.append(use)
            continue
        for path in joined:
            per_path.setdefault(id(path), []).append(use)
        if use.mcp_session:
            by_mcp_session.setdefault(use.mcp_session, joined[0])
    extra: dict[int, list[Exchange]] = {}
    for ex, hint, mcp_session in housekeeping:
        target = (attacher.by_group.get(hint) if hint else None) or (
            by_mcp_session.get(mcp_session) if mcp_session else None)
        if target is not None:
            extra.setdefault(id(target), []).append(ex)
    ids = session_ids(paths)
    routes = {u.exchange_id: u.server for u in uses}
    for path in paths:
        session = _session(path, ids[id(path)], per_path.get(id(path), []),
                           extra.get(id(path), []), routes)
        result.sessions.append(session)
        for use in per_path.get(id(path), []):
            result.attached.setdefault(use.exchange_id, session.id)
    result.sessions.extend(tool_only_sessions(unattached))
    result.tool_uses = uses
    return result


def thread(nodes: list[CallNode], problems: dict[str, list[str]]) -> list[SessionPath]:
    """Thread calls (in time order) into linear conversations; threading problems by call."""
    forest = Forest()
    for node in nodes:
        found: list[str] = []
        forest.add(node, found)
        if found:
            problems.setdefault(node.exchange_id, []).extend(found)
    return session_paths(forest)


def sessions_from_calls(nodes: list[CallNode], source: SessionSource,
                        problems: dict[str, list[str]] | None = None) -> list[Session]:
    """Sessions from model calls that did not come from exchanges (importers): threaded the
    same way, with `source` as their provenance (`exchange_ids` left empty)."""
    paths = thread(sorted(nodes, key=lambda n: (n.started_at, n.exchange_id)),
                   problems if problems is not None else {})
    ids = session_ids(paths)
    return [_session(p, ids[id(p)], [], [], {}, source) for p in paths]


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


def _session(path: SessionPath, sid: str, uses: list[ToolUse], extra: list[Exchange],
             routes: dict[str, str | None], source: SessionSource | None = None) -> Session:
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


def with_problems(ex: Exchange, problems: list[str]) -> Exchange:
    """The exchange with new parse/threading problems attached (raw bytes untouched)."""
    new = [p for p in problems if p not in ex.problems]
    return ex.model_copy(update={"problems": [*ex.problems, *new]}) if new else ex


def derive_sessions(exchanges: Iterable[Exchange],
                    options: DeriveOptions | None = None) -> list[Session]:
    """Just the sessions of `derive` (LLM sessions, then tool-only ones)."""
    return derive(exchanges, options).sessions

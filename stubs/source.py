"""Where stubs come from: a corpus's recorded tool calls, sessions and tool definitions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from recorder.corpus import Corpus
from recorder.session import Session, ToolDef, ToolResult
from recorder.toolcall import RecordedToolCall


def open_corpus(corpus: Corpus | str | Iterable[str]) -> Corpus:
    return corpus if isinstance(corpus, Corpus) else Corpus(corpus)


def corpus_calls(corpus: Corpus) -> Iterator[RecordedToolCall]:
    """Every recorded tool call of a corpus (function, MCP and HTTP), in corpus order."""
    try:
        from recorder.toolcalls import extract_tool_calls
    except ImportError:  # older recorder: function tools from sessions only
        return _session_calls(corpus)
    return extract_tool_calls(corpus)


def _session_calls(corpus: Corpus) -> Iterator[RecordedToolCall]:
    for session in corpus.sessions():
        pending: dict[str, Any] = {}
        n = 0
        for m in session.messages:
            for c in m.tool_calls:
                pending[c.id] = c
            if m.role == "tool" and m.tool_call_id is not None and m.tool_call_id in pending:
                call = pending.pop(m.tool_call_id)
                result = m.result or ToolResult(content=m.text)
                yield RecordedToolCall(kind="function", server=call.server, name=call.name,
                                       arguments=call.arguments, result=result,
                                       session_id=session.id, index=n)
                n += 1


def corpus_sessions(corpus: Corpus) -> dict[str, Session]:
    """Sessions by id (for the tool simulator's context)."""
    return {s.id: s for s in corpus.sessions()}


def tool_definitions(corpus: Corpus, sessions: Iterable[Session]) -> dict[str, ToolDef]:
    """Tool definitions by name: offered to the model in sessions, or listed by MCP servers."""
    tools: dict[str, ToolDef] = {}
    for s in sessions:
        for t in s.tools:
            tools.setdefault(t.name, t)
    try:
        from recorder.toolcalls import extract_mcp_servers
    except ImportError:
        return tools
    servers: Any = extract_mcp_servers(corpus)
    for server in servers.values() if isinstance(servers, dict) else servers:
        for t in server.tools:
            name = t.get("name")
            if isinstance(name, str):
                tools.setdefault(name, ToolDef(name=name, description=t.get("description") or "",
                                               input_schema=t.get("inputSchema") or {},
                                               server=server.server))
    return tools

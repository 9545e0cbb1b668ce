"""Where stubs come from: a corpus's recorded tool calls, sessions and tool definitions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from recorder.corpus import Corpus
from recorder.extract_tool_calls import extract_mcp_servers, extract_tool_calls, sessions_of
from recorder.recorded_tool_call import RecordedToolCall
from recorder.session import Session, ToolDef


def open_corpus(corpus: Corpus | str | Iterable[str]) -> Corpus:
    return corpus if isinstance(corpus, Corpus) else Corpus(corpus)


def corpus_calls(corpus: Corpus) -> Iterator[RecordedToolCall]:
    """Every recorded tool call of a corpus (function, MCP and HTTP), in corpus order."""
    return extract_tool_calls(corpus)


def corpus_sessions(corpus: Corpus) -> dict[str, Session]:
    """Sessions by id (for the tool simulator's context)."""
    return {s.id: s for s in sessions_of(corpus, include_tool_only=False)}


def tool_definitions(corpus: Corpus, sessions: Iterable[Session]) -> dict[str, ToolDef]:
    """Tool definitions by name: offered to the model in sessions, or listed by MCP servers."""
    tools: dict[str, ToolDef] = {}
    for s in sessions:
        for offered in s.tools:
            tools.setdefault(offered.name, offered)
    for server in extract_mcp_servers(corpus).values():
        for listed in server.tools:
            name = listed.get("name")
            if isinstance(name, str):
                tools.setdefault(name, ToolDef(
                    name=name, description=listed.get("description") or "",
                    input_schema=listed.get("inputSchema") or {}, server=server.server))
    return tools

"""Recorded tool calls and MCP catalogues from corpora, with and without stored sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorder.corpus import Corpus
from recorder.derive import derive_sessions
from recorder.extract_tool_calls import extract_mcp_servers, extract_tool_calls, sessions_of
from recorder.testing import tool_conversation
from recorder.writer import CassetteWriter


def by_kind(calls: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for c in calls:
        out.setdefault(c.kind, []).append(c)
    return out


def test_calls_of_every_kind_from_raw_exchanges() -> None:
    calls = by_kind(list(extract_tool_calls(tool_conversation())))
    [fn] = calls["function"]
    [mcp] = calls["mcp"]
    http = calls["http"]
    assert fn.name == "forecast" and fn.arguments == {"city": "Paris"}
    assert fn.result.exchange_id == "mcp-call" and fn.server == "weather"
    assert fn.result.structured == {"result": "sunny in Paris"}
    assert mcp.arguments == {"city": "Paris"}  # `_meta` is not an argument
    assert mcp.session_id == fn.session_id and mcp.session_id is not None
    assert mcp.mcp_result is not None and mcp.mcp_result["isError"] is False
    assert mcp.result.content == "sunny in Paris" and mcp.result.latency_ms == 500.0
    assert [h.name for h in http] == ["GET /customers/42", "POST /notes"]
    assert http[0].arguments == {"query": {"fields": ["name", "mail"]}, "body": None}
    assert http[1].arguments == {"query": {}, "body": {"text": "hi", "n": "1"}}
    assert http[1].result.is_error and http[1].http is not None and http[1].http.status == 500
    assert [h.index for h in http] == [0, 1] and http[0].session_id is None


def test_stored_sessions_are_used_and_agree(tmp_path: Path) -> None:
    exchanges = tool_conversation()
    path = str(tmp_path / "c.cassette")
    with CassetteWriter(path) as w:
        w.write_many(exchanges)
        w.write_many(derive_sessions(exchanges))
    corpus = Corpus(path)
    stored = list(extract_tool_calls(corpus))
    fresh = list(extract_tool_calls(exchanges))
    assert [c.model_dump() for c in stored] == [c.model_dump() for c in fresh]
    assert [s.id for s in sessions_of(corpus)] == [s.id for s in derive_sessions(exchanges)]


def test_sessions_of_derives_when_none_stored(tmp_path: Path) -> None:
    path = str(tmp_path / "c.cassette")
    with CassetteWriter(path) as w:
        w.write_many(tool_conversation())
    sessions = list(sessions_of(Corpus(path)))
    assert [s.source.type for s in sessions] == ["recorded", "tool_only"]
    assert "mcp-init" in sessions[0].source.exchange_ids  # same MCP session → same session


def test_mcp_server_catalogue() -> None:
    servers = extract_mcp_servers(tool_conversation())
    assert set(servers) == {"weather"}
    w = servers["weather"]
    assert w.server_info == {"name": "weather", "version": "1"}
    assert w.protocol_version == "2025-11-25" and w.instructions == "Ask me."
    assert [t["name"] for t in w.tools] == ["forecast"]
    assert w.init_result is not None and w.capabilities == {"tools": {}}


def test_generated_messages_are_not_recorded_calls() -> None:
    from recorder.session import Message, Session, ToolCall, ToolResult

    s = Session(id="run-1", messages=[
        Message(role="user", content=[]),
        Message(role="assistant", origin="generated",
                tool_calls=[ToolCall(id="g1", name="forecast", arguments={})]),
        Message(role="tool", origin="generated", tool_call_id="g1",
                result=ToolResult(content="stub", provenance="exact")),
        Message(role="assistant", tool_calls=[ToolCall(id="r1", name="forecast",
                                                       arguments={"city": "Oslo"})]),
        Message(role="tool", tool_call_id="r1", result=ToolResult(content="snow")),
    ])
    [call] = extract_tool_calls([s])
    assert call.arguments == {"city": "Oslo"} and call.result.content == "snow"

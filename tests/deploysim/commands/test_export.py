"""`deploysim export otel|jsonl`: sessions and verdicts out, and back in through the importers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from recorder_helpers import fixture

from deploysim.cli import run
from grader.testing import coding_session
from recorder.corpus import Corpus
from recorder.importers.openai_jsonl import import_openai_jsonl
from recorder.importers.otel import import_otel
from recorder.session import Session
from recorder.writer import CassetteWriter


def graded_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Coding sessions (some flagged by the default rubric) + an imported Langfuse trace."""
    folder = tmp_path / "corpus"
    os.makedirs(folder)
    with CassetteWriter(str(folder / "c.cassette")) as w:
        for i in range(3):
            w.write(coding_session(i))
    assert run(["import", "langfuse", fixture("langfuse_trace.json"), "--out", str(folder)]) == 0
    assert run(["grade", str(folder), "--rubric", "default"]) == 0
    capsys.readouterr()
    return str(folder)


def shape(s: Session) -> list[tuple[Any, ...]]:
    """What a round trip must keep: roles, visible text, tool calls, tool results."""
    return [(m.role, m.text if m.role != "tool" else (m.result.content if m.result else m.text),
             [(c.id, c.name, c.arguments) for c in m.tool_calls], m.tool_call_id)
            for m in s.messages if m.role != "system"]


def spans_of(line: str) -> list[dict[str, Any]]:
    doc = json.loads(line)
    return [sp for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]


def attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_export_otel_spans_verdicts_and_round_trip(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    corpus = graded_corpus(tmp_path, capsys)
    out = tmp_path / "spans.jsonl"
    assert run(["export", "otel", corpus, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "exported 4 session(s)" in printed and "annotation(s)" in printed
    lines = out.read_text().splitlines()
    sessions = {s.id: s for s in Corpus(corpus).sessions()}
    assert len(lines) == len(sessions) == 4
    by_conv = {}
    for line in lines:
        spans = spans_of(line)
        root = spans[0]
        assert root["name"] == "invoke_agent" and "parentSpanId" not in root
        assert len({sp["traceId"] for sp in spans}) == 1
        by_conv[attrs(root)["gen_ai.conversation.id"]] = spans
    assert set(by_conv) == set(sessions)
    spans = by_conv["sess-42"]
    chat = [sp for sp in spans if attrs(sp).get("gen_ai.operation.name") == "chat"]
    tools = [sp for sp in spans if attrs(sp).get("gen_ai.operation.name") == "execute_tool"]
    assert len(chat) == 2 and len(tools) == 1
    tool = attrs(tools[0])
    assert tool["gen_ai.tool.name"] == "lookup_order" and tool["gen_ai.tool.call.id"] == "call_1"
    assert int(tools[0]["endTimeUnixNano"]) - int(tools[0]["startTimeUnixNano"]) == 250_000_000
    first = attrs(chat[0])
    assert json.loads(first["gen_ai.output.messages"])[0]["parts"][0]["type"] == "tool_call"
    assert first["gen_ai.usage.input_tokens"] == "120"
    # verdicts ride on the turn spans as events; flagged behaviors as an attribute
    events = [e for spans in by_conv.values() for sp in spans for e in sp["events"]]
    verdicts = [e for e in events if e["name"] == "deploysim.verdict"]
    assert verdicts
    flagged = [sp for spans in by_conv.values() for sp in spans
               if "deploysim.flagged_behaviors" in attrs(sp)]
    assert flagged, "the default rubric flags the coding sessions' destructive shell"
    assert any(e["name"] == "deploysim.annotation" for e in events)  # the Langfuse score
    # Round trip through the OTel importer (recorder/importers/otel.py, rewritten in parallel
    # by another change): the sessions' messages and tool calls come back.
    back = {s.id: s for s in import_otel(str(out)).sessions}
    for sid, s in sessions.items():
        assert shape(back[sid]) == shape(s), sid


def test_export_jsonl_round_trips_through_openai_jsonl(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = graded_corpus(tmp_path, capsys)
    out = tmp_path / "chat.jsonl"
    assert run(["export", "jsonl", corpus, "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(isinstance(x["messages"], list) and "verdicts" in x for x in lines)
    assert any(v["flagged"] for x in lines for v in x["verdicts"])
    back = {s.id: s for s in import_openai_jsonl(str(out)).sessions}
    for s in Corpus(corpus).sessions():
        assert shape(back[s.id]) == shape(s), s.id
        assert back[s.id].labels == s.labels


def test_export_errors_are_one_sentence(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    corpus = graded_corpus(tmp_path, capsys)
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n")
    assert run(["export", "otel", corpus, "--out", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err and taken.read_text() == "keep me\n"
    assert run(["export", "jsonl", str(tmp_path / "nowhere"), "--out",
                str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploysim: error:") and "does not exist" in err
    assert not (tmp_path / "x.jsonl").exists()

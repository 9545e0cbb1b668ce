"""Rendering: a recorded row becomes the answer each transport sends, built through the models
that define it (the same objects validation would build), and a packed row comes back intact."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.recorded_tool_call import HttpReply
from recorder.session import ToolResult
from stubs import construct
from stubs.api import StubAnswer
from stubs.render import render
from stubs.reply import Reply, Row, pack_call, unpack_row
from stubs.testing import sample_calls

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)
rows = st.builds(
    lambda content, structured, is_error, latency, status, headers, body, mcp_result, mcp_error,
    exchange: Row(0, "s1", 2, {"a": 1}, content, structured, is_error, latency, status, headers,
                  body, mcp_result, mcp_error, exchange),
    st.text(), json_values, st.booleans(), st.none() | st.floats(0, 1e4), st.none() |
    st.integers(100, 599), st.none() | st.lists(st.lists(st.text(max_size=5), min_size=2,
                                                           max_size=2), max_size=3),
    st.none() | st.binary(max_size=20) | st.just(b'{"ok": true}'),
    st.none() | st.dictionaries(st.sampled_from(["content", "isError", "structuredContent"]),
                                json_values, max_size=3),
    st.none() | st.fixed_dictionaries({"code": st.integers(), "message": st.text()}),
    st.none() | st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["function", "mcp", "http"]), row=rows,
       provenance=st.sampled_from(["exact", "session"]))
def test_a_rendered_row_is_what_validation_builds(kind: str, row: Row, provenance: str) -> None:
    answer = render(kind, Reply.from_row(row), provenance)  # type: ignore[arg-type]
    result = answer.result
    assert result == ToolResult.model_validate(result.model_dump())
    assert result.model_fields_set == set(ToolResult.model_fields)
    assert result.provenance == answer.provenance == provenance
    assert answer == StubAnswer(**{f.name: getattr(answer, f.name)
                                   for f in dataclasses.fields(StubAnswer)})
    # a recorded row renders as its `Reply` does (the exact path renders the row itself)
    assert render(kind, row, provenance) == answer  # type: ignore[arg-type]
    if kind == "http":
        assert answer.http == HttpReply.model_validate(answer.http.model_dump())  # type: ignore[union-attr]
        assert answer.http.status == (row.status or (500 if row.is_error else 200))
        assert answer.mcp_result is answer.mcp_error is None
    elif kind == "mcp":
        assert answer.http is None
        assert (answer.mcp_error is None) != (answer.mcp_result is None)
        if row.mcp_error is not None:
            assert answer.mcp_error == row.mcp_error and result.is_error
        else:
            assert answer.mcp_result["isError"] is bool(  # type: ignore[index]
                (row.mcp_result or {}).get("isError", row.is_error))
    else:
        assert answer.http is answer.mcp_result is answer.mcp_error is None
        assert result.content == row.content and result.is_error is row.is_error


def test_an_http_reply_without_recorded_headers_says_what_its_body_is() -> None:
    def headers(body: bytes) -> dict[str, Any]:
        answer = render("http", Reply(content=body.decode(), body=body), "exact")
        return dict(answer.http.headers)  # type: ignore[union-attr]

    assert headers(b'{"ok": true}') == {"content-type": "application/json",
                                        "content-length": "12"}
    assert headers(b"plain")["content-type"] == "text/plain; charset=utf-8"


def test_a_packed_row_unpacks_to_its_call() -> None:
    for call in sample_calls(5):
        row = unpack_row(pack_call(call, 4))
        assert (row.tool, row.session, row.call_index) == (4, call.session_id, call.index)
        assert row.arguments == call.arguments and row.content == call.result.content
        assert json.dumps(row.structured) == json.dumps(call.result.structured)


def same_answer(a: StubAnswer, b: StubAnswer) -> None:
    assert a == b
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert list(vars(a)) == list(vars(b))
    assert a.result.model_fields_set == b.result.model_fields_set
    assert a.result.model_dump_json() == b.result.model_dump_json()
    assert (a.http is None) == (b.http is None)
    if a.http is not None and b.http is not None:
        assert a.http.model_fields_set == b.http.model_fields_set
        assert a.http.model_dump() == b.http.model_dump()


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["function", "mcp", "http"]), row=rows,
       provenance=st.sampled_from(["exact", "session"]), delay=st.sampled_from([0.0, 1.5]))
def test_fast_and_reference_builders_render_the_same_answer(kind: str, row: Row,
                                                            provenance: str,
                                                            delay: float) -> None:
    answers = []
    for builders in (construct.FAST, construct.REFERENCE):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(construct, "BUILD", builders)
            for reply in (row, Reply.from_row(row)):
                answers.append(render(kind, reply, provenance,  # type: ignore[arg-type]
                                      delay_s=delay, diagnostics={"d": 1} if delay else None))
    for answer in answers[1:]:
        same_answer(answer, answers[0])

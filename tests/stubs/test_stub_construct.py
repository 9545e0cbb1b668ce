"""The exact-answer fast path builds the same objects as the general one: trusted builders vs
pydantic / dataclass construction, `render_row` vs `render(Reply.from_row(...))`, and the
engine's `_exact` shortcut vs its general `_answer` path."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from recorder.recorded_tool_call import HttpReply
from recorder.session import ToolResult
from stubs.api import StubAnswer, ToolQuery
from stubs.construct import dataclass_builder, model_builder
from stubs.engine import StubEngine
from stubs.render import render, render_row
from stubs.reply import Reply, Row, pack_call, unpack_fields, unpack_row
from stubs.testing import sample_calls


def same_answer(a: StubAnswer, b: StubAnswer) -> None:
    assert a == b
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert list(vars(a)) == list(vars(b))
    assert a.result.model_fields_set == b.result.model_fields_set
    assert a.result.model_dump_json() == b.result.model_dump_json()
    if a.http is not None and b.http is not None:
        assert a.http.model_fields_set == b.http.model_fields_set
        assert a.http.model_dump() == b.http.model_dump()


def test_model_builder_leaves_what_model_construct_leaves() -> None:
    values = {"content": "x", "structured": {"a": [1]}, "is_error": False, "latency_ms": 3.5,
              "provenance": "exact", "exchange_id": None}
    built = model_builder(ToolResult)(dict(values))
    ref = ToolResult.model_construct(**values)
    assert built == ref and built.model_dump() == ref.model_dump()
    assert list(built.model_dump()) == list(ref.model_dump())
    assert built.model_fields_set == ref.model_fields_set
    assert built.__pydantic_extra__ is ref.__pydantic_extra__ is None
    assert built.__pydantic_private__ is ref.__pydantic_private__ is None
    with pytest.raises(ValidationError):  # still frozen
        built.content = "y"  # type: ignore[misc]
    assert built.model_copy(update={"content": "y"}).content == "y"
    h = {"status": 200, "headers": [("a", "b")], "body": b"{}"}
    assert model_builder(HttpReply)(dict(h)) == HttpReply.model_construct(**h)


def test_dataclass_builder_leaves_what_init_leaves() -> None:
    result = ToolResult(content="x")
    values = {"result": result, "provenance": "exact", "delay_s": 0.0, "timeout": False,
              "http": None, "mcp_result": {"isError": False}, "mcp_error": None,
              "diagnostics": {}}
    built = dataclass_builder(StubAnswer)(dict(values))
    ref = StubAnswer(**values)
    assert built == ref and vars(built) == vars(ref) and list(vars(built)) == list(vars(ref))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.provenance = "y"  # type: ignore[misc]
    assert dataclasses.replace(built, provenance="y").provenance == "y"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)
rows = st.builds(
    lambda content, structured, is_error, latency, status, headers, body, mcp_result, mcp_error,
    exchange: [0, "s1", 2, {"a": 1}, content, structured, is_error, latency, status, headers,
               body, mcp_result, mcp_error, exchange],
    st.text(), json_values, st.booleans(), st.none() | st.floats(0, 1e4), st.none() |
    st.integers(100, 599), st.none() | st.lists(st.lists(st.text(max_size=5), min_size=2,
                                                           max_size=2), max_size=3),
    st.none() | st.binary(max_size=20) | st.just(b'{"ok": true}'),
    st.none() | st.dictionaries(st.sampled_from(["content", "isError", "structuredContent"]),
                                json_values, max_size=3),
    st.none() | st.fixed_dictionaries({"code": st.integers(), "message": st.text()}),
    st.none() | st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["function", "mcp", "http"]), fields=rows,
       provenance=st.sampled_from(["exact", "session"]))
def test_render_row_equals_render_of_the_reply(kind: str, fields: list[Any],
                                               provenance: str) -> None:
    ref = render(kind, Reply.from_row(Row(*fields)), provenance)  # type: ignore[arg-type]
    same_answer(render_row(kind, list(fields), provenance), ref)  # type: ignore[arg-type]


def test_unpack_fields_is_the_row() -> None:
    for call in sample_calls(3):
        blob = pack_call(call, 4)
        assert Row(*unpack_fields(blob)) == unpack_row(blob)


async def test_exact_path_answers_as_the_general_path() -> None:
    calls = sample_calls(20, seed=3)
    fast, general = StubEngine.from_calls(calls), StubEngine.from_calls(calls)
    rnd = random.Random(5)
    picked = [rnd.choice(calls) for _ in range(300)]  # repeats: the repeat policy advances
    exact = 0
    for i, c in enumerate(picked):
        args = c.arguments
        if isinstance(args, dict) and i % 2:
            args = json.dumps(dict(reversed(list(args.items()))))  # as a model sends them
        query = ToolQuery(kind=c.kind, name=c.name, arguments=args, server=c.server,
                          session_id=c.session_id if i % 3 else "other", call_index=i,
                          trajectory_id=f"t{i % 4}")
        answer = fast._exact(query)
        ref = await general._answer(query)
        assert answer is not None, query
        exact += 1
        same_answer(answer, ref)
    assert exact == len(picked)
    # the same repeat positions for keys recorded more than once; keys recorded once need
    # none on the exact path (their one row answers every repeat)
    multi = {e.rows[0] for t in fast.index.tables for e in t.table.values()
             if not isinstance(e, int)}
    assert multi and fast._repeats == {k: v for k, v in general._repeats.items()
                                       if k[1] in multi}
    # a miss leaves no trace on the exact path
    miss = ToolQuery(kind="function", name=calls[0].name, arguments={"nope": 1})
    before = dict(fast._repeats)
    assert fast._exact(miss) is None and fast._repeats == before

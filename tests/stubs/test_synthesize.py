"""Shapes, synthetic answers and the nearest layer."""

from __future__ import annotations

import json
import random
from typing import Any

from stubs.document import get_document
from stubs.index import StubIndex
from stubs.nearest import NearestIndex
from stubs.reply import Reply
from stubs.shape import Shape, detect_format, infer
from stubs.similarity import diff, similarity
from stubs.synthesize import Synthesizer, generate, substitute
from stubs.testing import function_call, http_call, mcp_call

RESPONSES = [
    {"id": f"123e4567-e89b-12d3-a456-42661417400{i}", "status": ["open", "closed"][i % 2],
     "created": f"2025-01-0{i + 1}T10:00:00Z", "score": 0.5 + i / 10, "count": i,
     "tags": ["a", "b"][: i % 3], "owner": {"email": f"u{i}@example.com"},
     **({"note": "late"} if i % 2 else {})}
    for i in range(6)
]


def test_shape_inference() -> None:
    shape = infer(RESPONSES)
    d = shape.to_dict()
    assert d["type"] == "object"
    assert set(d["required"]) == {"id", "status", "created", "score", "count", "tags", "owner"}
    props = d["properties"]
    assert props["id"]["format"] == "uuid"
    assert props["created"]["format"] == "date-time"
    assert props["status"]["enum"] == ["open", "closed"]
    assert props["score"]["type"] == "number" and props["count"]["type"] == "integer"
    assert (props["count"]["minimum"], props["count"]["maximum"]) == (0, 5)
    assert (props["tags"]["minItems"], props["tags"]["maxItems"]) == (0, 2)
    assert props["owner"]["properties"]["email"]["format"] == "email"
    assert "note" not in d["required"]
    assert shape.describe().startswith("{id: string(uuid), status: enum(open|closed)")


def test_formats_and_json_strings() -> None:
    assert detect_format("2025-03-01") == "date"
    assert detect_format("https://x.example/a") == "uri"
    assert detect_format("10.0.0.1") == "ipv4"
    assert detect_format("hello") is None
    s = infer(['{"a": 1}', '{"a": 2, "b": "x"}'])
    assert s.to_dict()["contentSchema"]["properties"]["a"]["type"] == "integer"


def _conforms(value: Any, shape: Shape) -> None:
    d = shape.to_dict()
    if d["type"] == "object":
        assert isinstance(value, dict)
        assert set(d["required"]) <= set(value) <= set(d["properties"])
        for k, v in value.items():
            _conforms(v, shape.keys[k])
    elif d["type"] == "array":
        assert d["minItems"] <= len(value) <= d["maxItems"]
    elif d["type"] == "string":
        assert isinstance(value, str)
        if "enum" in d:
            assert value in d["enum"]
        if d.get("format"):
            assert detect_format(value) in (d["format"], "date" if d["format"] == "date" else None)
    elif d["type"] in ("integer", "number"):
        assert d["minimum"] <= value <= d["maximum"]


def test_generated_values_follow_the_shape_deterministically() -> None:
    shape = infer(RESPONSES)
    for seed in range(30):
        value = generate(shape, random.Random(seed), {})
        _conforms(value, shape)
        assert generate(shape, random.Random(seed), {}) == value
    assert generate(shape, random.Random(1), {}) != generate(shape, random.Random(2), {})


def test_arguments_are_echoed_into_matching_fields() -> None:
    shape = infer([{"city": "Paris", "temp": 20}, {"city": "Rome", "temp": 25}])
    value = generate(shape, random.Random(0), {"city": "Berlin"})
    assert value["city"] == "Berlin"
    value = generate(shape, random.Random(0), {"city": 7})  # wrong type: not echoed
    assert value["city"] in ("Paris", "Rome")


def test_text_tools_are_synthesised_by_substitution() -> None:
    assert substitute("Weather in Paris: 20C", {"city": "Paris"}, {"city": "Berlin"}) == \
        "Weather in Berlin: 20C"
    index = StubIndex.build([
        mcp_call("fs", "read_file", {"path": "/a.txt"}, "contents of /a.txt: 3 lines",
                 structured=False),
        mcp_call("fs", "read_file", {"path": "/b.txt"}, "contents of /b.txt: 9 lines",
                 structured=False)])
    synth = Synthesizer(index, index.tables[0])
    reply = synth.answer({"path": "/c.txt"}, random.Random(0))
    assert reply is not None and reply.content.startswith("contents of /c.txt")
    assert reply.mcp_result is not None and reply.mcp_result["content"][0]["text"] == reply.content


def test_http_synthesis_keeps_the_recorded_form() -> None:
    index = StubIndex.build([http_call("shop", "GET", "/v1/orders", query={"id": f"A{i}"},
                                       response={"id": f"A{i}", "total": 10 + i})
                             for i in range(5)])
    reply = Synthesizer(index, index.tables[0]).answer({"query": {"id": "Z9"}}, random.Random(3))
    assert reply is not None and reply.status == 200 and reply.body is not None
    body = json.loads(reply.body)
    assert body["id"] == "Z9" and 10 <= body["total"] <= 14
    assert dict(reply.headers)["content-length"] == str(len(reply.body))


def test_errors_are_not_used_as_templates() -> None:
    index = StubIndex.build([function_call("t", {"a": 1}, {"ok": 1}),
                             function_call("t", {"a": 2}, "Error: boom", is_error=True)])
    for seed in range(10):
        reply = Synthesizer(index, index.tables[0]).answer({"a": 3}, random.Random(seed))
        assert reply is not None and not reply.is_error and json.loads(reply.content) == {"ok": 1}


def test_similarity_and_diff() -> None:
    assert similarity({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}) == 1.0
    assert similarity({"a": 1}, {"a": "1"}) == 0.0 + 0.0
    assert similarity({"a": 1, "b": 2}, {"a": 1}) == 0.5
    assert similarity({"a": "Paris"}, {"a": "Berlin"}) == 0.5  # same type, nothing shared
    assert 0.75 < similarity({"a": "Paris"}, {"a": "Parish"}) < 1
    assert similarity({"a": "Paris"}, {"a": "Berlin"}, base=0.0) == 0.0
    assert diff({"a": 1, "b": {"c": [1, 2]}}, {"a": 1, "b": {"c": [1, 3]}, "d": 0}) == [
        {"path": "$.b.c[1]", "query": 2, "recorded": 3},
        {"path": "$.d", "query": "<missing>", "recorded": 0}]


def test_nearest_on_a_large_tool_uses_the_inverted_index() -> None:
    calls = [function_call("lookup", {"user": f"u{i}", "region": ["eu", "us", "ap"][i % 3],
                                      "fields": ["name", "email"]}, {"i": i})
             for i in range(3000)]
    index = StubIndex.build(calls)
    near = NearestIndex(index, index.tables[0])
    best = near.closest({"user": "u1234", "region": "us", "fields": ["name", "email", "x"]}, 3)
    assert best[0].arguments["user"] == "u1234"
    assert [d["path"] for d in best[0].diff] == ["$.fields"]
    assert best[0].similarity > best[1].similarity


def test_document_views() -> None:
    wrapped = Reply(content="hello", mcp_result={"content": [{"type": "text", "text": "hello"}],
                                                 "structuredContent": {"result": "hello"}})
    assert get_document(wrapped).form == "wrapped" and get_document(wrapped).value == "hello"
    assert get_document(Reply(content="[1, 2]")).value == [1, 2]
    assert get_document(Reply(content="plain")).form == "text"

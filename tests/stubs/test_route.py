"""HTTP paths never recorded, answered from a recorded path of the same route (`stubs.route`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recorder.recorded_tool_call import RecordedToolCall
from stubs.api import StubAnswer, ToolQuery
from stubs.engine import StubEngine
from stubs.reply import Reply
from stubs.route import put_ids, route_of
from stubs.testing import http_call

ORDER = {"id": "A1001", "status": "paid", "total": 219.9,
         "url": "https://shop.example/orders/A1001",
         "items": [{"sku": "SKU-1", "order_id": "A1001", "qty": 2}],
         "note": "Order A1001 ships Monday; ref A10011 unrelated"}


def shop() -> list[RecordedToolCall]:
    return [
        http_call("shop", "GET", "/orders/A1001", response=ORDER,
                  headers=[("content-type", "application/json"),
                           ("location", "/orders/A1001")]),
        http_call("shop", "GET", "/users/42", response={"id": 42, "age": 42, "orders": 42}),
        http_call("shop", "GET", "/users/7/orders/A1", response={"user_id": 7, "id": "A1"}),
        http_call("shop", "GET", "/users/8/orders/A1", response={"user_id": 8, "id": "A1"}),
        http_call("shop", "GET", "/health", response={"ok": True}),
    ]


async def ask(engine: StubEngine, name: str, *, server: str = "shop",
              query: dict[str, Any] | None = None) -> StubAnswer:
    return await engine.answer(ToolQuery(kind="http", server=server, name=name,
                                         arguments={"query": query or {}, "body": None}))


def body(answer: StubAnswer) -> Any:
    assert answer.http is not None and answer.http.body is not None
    return json.loads(answer.http.body)


def test_route_of() -> None:
    assert route_of("GET /orders/A1001") == ("GET /orders/{}", ["A1001"])
    assert route_of("get /v1/users/7/orders/A1") == ("GET /v1/users/{}/orders/{}", ["7", "A1"])
    assert route_of("GET /health") is None  # nothing varies: no siblings
    assert route_of("search_docs") is None


async def test_an_unrecorded_id_is_answered_from_its_route_with_the_id_put_right() -> None:
    engine = StubEngine.from_calls(shop())
    a = await ask(engine, "GET /orders/A1002")
    assert a.provenance == "nearest"
    got = body(a)
    assert got["id"] == "A1002" and got["items"][0]["order_id"] == "A1002"
    assert got["url"] == "https://shop.example/orders/A1002"
    # the id as a word is swapped, a longer token that merely starts with it is not
    assert got["note"] == "Order A1002 ships Monday; ref A10011 unrelated"
    assert {k: v for k, v in got.items() if k not in ("id", "url", "items", "note")} == \
        {"status": "paid", "total": 219.9}
    assert a.http is not None and a.http.status == 200
    headers = dict(a.http.headers)
    assert headers["location"] == "/orders/A1002"
    assert headers["content-length"] == str(len(a.http.body or b""))
    assert json.loads(a.result.content) == got  # what the model sees agrees with the body
    assert a.diagnostics["nearest"]["route"] == {"recorded": "http:shop/GET /orders/A1001",
                                                 "ids": {"A1001": "A1002"}}
    assert "deploysim" not in (a.http.body or b"").decode()


async def test_numeric_ids_are_swapped_only_where_they_name_the_resource() -> None:
    engine = StubEngine.from_calls(shop())
    a = await ask(engine, "GET /users/43")
    assert a.provenance == "nearest"
    assert body(a) == {"id": 43, "age": 42, "orders": 42}


async def test_siblings_sharing_more_of_the_path_come_first() -> None:
    for calls in (shop(), shop()[::-1]):  # whatever order they were recorded in
        engine = StubEngine.from_calls(calls)
        a = await ask(engine, "GET /users/7/orders/A2")
        assert body(a) == {"user_id": 7, "id": "A2"}
        assert a.diagnostics["nearest"]["route"]["recorded"] == "http:shop/GET /users/7/orders/A1"


async def test_the_sibling_recorded_with_the_closest_query_answers() -> None:
    calls = [http_call("shop", "GET", "/orders/A1", query={"expand": "items"},
                       response={"id": "A1", "items": [1, 2]}),
             http_call("shop", "GET", "/orders/A3", response={"id": "A3"})]
    engine = StubEngine.from_calls(calls)
    assert body(await ask(engine, "GET /orders/A2", query={"expand": "items"})) == \
        {"id": "A2", "items": [1, 2]}
    assert body(await ask(engine, "GET /orders/A2")) == {"id": "A2"}


async def test_an_answer_that_does_not_echo_its_id_is_given_as_recorded() -> None:
    calls = [http_call("shop", "DELETE", "/orders/A1001", status=204, response="")]
    a = await ask(StubEngine.from_calls(calls), "DELETE /orders/A1002")
    assert a.provenance == "nearest" and a.http is not None
    assert a.http.status == 204 and a.http.body == b""


@pytest.mark.parametrize("name,server", [
    ("GET /customers/A1002", "shop"),      # another route
    ("DELETE /orders/A1002", "shop"),      # another method
    ("GET /orders/A1002/items", "shop"),   # another path shape
    ("GET /orders/new", "shop"),           # a fixed segment, not an id
    ("GET /orders/A1002", "billing"),      # another server
])
async def test_another_route_never_answers(name: str, server: str) -> None:
    engine = StubEngine.from_calls(shop())
    assert (await ask(engine, "GET /orders/A1002")).provenance == "nearest"  # its own route
    a = await ask(engine, name, server=server)
    assert a.provenance == "miss"
    assert a.http is not None and a.http.status == 404


async def test_the_route_fallback_is_the_nearest_layer() -> None:
    engine = StubEngine.from_calls(shop())
    assert (await ask(engine, "GET /orders/A1002")).provenance == "nearest"
    assert (await ask(engine, "GET /orders/A1001")).provenance == "exact"  # recorded: exact
    for fallbacks in ((), ("synthesize",)):  # without `nearest`, no route sibling answers
        a = await ask(StubEngine.from_calls(shop(), fallbacks=fallbacks), "GET /orders/A1002")
        assert a.provenance == "miss"


def test_put_ids_leaves_a_reply_without_the_id_alone() -> None:
    r = Reply.from_row(StubEngine.from_calls(shop()).index.row(4))  # GET /health
    assert put_ids(r, {"A1001": "A1002"}) is r

"""The index: exact keys, session preference, tool resolution, matchers, identity."""

from __future__ import annotations

import pytest

from recorder.recorded_tool_call import RecordedToolCall
from stubs.errors import UnknownTool
from stubs.index import StubIndex
from stubs.matchers import MATCHERS, explain, matcher
from stubs.repeat import POLICIES
from stubs.stub_config import StubConfig, ToolConfig
from stubs.testing import function_call, http_call, mcp_call


def _index(config: StubConfig | None = None, *more: RecordedToolCall) -> StubIndex:
    return StubIndex.build([
        function_call("get_weather", {"city": "Paris"}, {"t": 1}, session="s1", index=0),
        function_call("get_weather", {"city": "Paris"}, {"t": 2}, session="s2", index=0),
        function_call("get_weather", {"city": "Paris"}, {"t": 3}, session="s2", index=1),
        function_call("get_weather", {"city": "Rome"}, {"t": 4}, session="s1", index=1),
        mcp_call("docs", "search", {"q": "x", "_meta": {"progressToken": 1}}, {"hits": []}),
        http_call("shop", "GET", "/v1/orders", query={"id": "A1"}, body=None,
                  response={"id": "A1"}, session="s3"),
        *more,
    ], config)


def test_exact_and_session_preference() -> None:
    index = _index()
    t = index.resolve("function", None, "get_weather")
    key = t.key({"city": " Paris "})
    rows, prov = index.lookup(t, key, "s2")  # type: ignore[misc]
    assert prov == "session" and [index.row(r).content for r in rows] == ['{"t": 2}', '{"t": 3}']
    rows, prov = index.lookup(t, key, "s9")  # type: ignore[misc]
    assert prov == "exact" and len(rows) == 3
    rows, prov = index.lookup(t, key, None)  # type: ignore[misc]
    assert prov == "exact"
    rows, prov = index.lookup(t, t.key({"city": "Rome"}), "s1")  # type: ignore[misc]
    assert prov == "session" and index.row(rows[0]).content == '{"t": 4}'
    rows, prov = index.lookup(t, t.key({"city": "Rome"}), "s2")  # type: ignore[misc]
    assert prov == "exact"
    assert index.lookup(t, t.key({"city": "Oslo"}), "s1") is None


def test_mcp_meta_ignored_and_http_keys() -> None:
    index = _index()
    t = index.resolve("mcp", "docs", "search")
    assert index.lookup(t, t.key({"q": "x"}), None) is not None
    h = index.resolve("http", "shop", "GET /v1/orders")
    assert index.lookup(h, h.key({"query": {"id": "A1"}, "body": None}), "s3")[1] == "session"  # type: ignore[index]


def test_tool_resolution_and_unknown_tools() -> None:
    index = _index()
    # an MCP tool called as a function tool (one tool of that name): found
    assert index.find("function", None, "search") is index.resolve("mcp", "docs", "search")
    assert index.find("mcp", "other", "search") is not None  # unique name, other server
    with pytest.raises(UnknownTool) as exc:
        index.resolve("function", None, "get_wether")
    assert "get_wether" in str(exc.value) and "get_weather" in str(exc.value)
    with pytest.raises(UnknownTool):
        index.find_label("nope")
    assert index.find_label("mcp:docs/search").tool.name == "search"


def test_ambiguous_name_is_not_guessed() -> None:
    index = StubIndex.build([mcp_call("a", "search", {}, {}), mcp_call("b", "search", {}, {})])
    assert index.find("function", None, "search") is None
    assert index.find("mcp", "a", "search") is not None


def test_repeat_policies() -> None:
    rows = [10, 11, 12]
    assert [POLICIES["sequence"](rows, n) for n in range(5)] == [10, 11, 12, 12, 12]
    assert [POLICIES["cycle"](rows, n) for n in range(5)] == [10, 11, 12, 10, 11]
    assert [POLICIES["first"](rows, n) for n in range(3)] == [10, 10, 10]


def test_matchers_select_key_parts() -> None:
    cfg = StubConfig(tools=(("http:shop/*", ToolConfig(match_on=("query",))),))
    index = StubIndex.build([http_call("shop", "POST", "/v1/refunds", query={"o": 1},
                                       body={"nonce": 1}, response={"ok": True})], cfg)
    t = index.resolve("http", "shop", "POST /v1/refunds")
    assert index.lookup(t, t.key({"query": {"o": 1}, "body": {"nonce": 2}}), None) is not None
    assert index.lookup(t, t.key({"query": {"o": 2}, "body": {"nonce": 1}}), None) is None
    result = explain(("query", "body"), t.canon, {"query": {"o": 1}, "body": 1},
                     {"query": {"o": 1}, "body": 2})
    assert result == {"matched": ["query"], "failed": ["body"]}


def test_user_matchers_register_like_builtins() -> None:
    @matcher("city_only")
    def city_only(canon, args):  # type: ignore[no-untyped-def]
        return canon.freeze(args.get("city"))

    try:
        cfg = StubConfig(tools=(("get_weather", ToolConfig(match_on=("city_only",))),))
        index = StubIndex.build([function_call("get_weather", {"city": "Paris", "ts": 1}, {})],
                                cfg)
        t = index.resolve("function", None, "get_weather")
        assert index.lookup(t, t.key({"city": "Paris", "ts": 99}), None) is not None
    finally:
        MATCHERS.pop("city_only")


def test_content_hash_is_stable_and_sensitive() -> None:
    assert _index().content_hash() == _index().content_hash()
    other = _index(StubConfig(repeat="cycle"))
    assert other.content_hash() != _index().content_hash()
    assert len(_index()) == 6


def _reference(index: StubIndex, entry: object, session: str | None) -> tuple[list[int], str]:
    """`prefer_session` spelled out on the sessions the rows themselves hold (it reads the
    index's session column)."""
    if isinstance(entry, int):
        own = session is not None and index.row(entry).session == session
        return [entry], "session" if own else "exact"
    own_rows = [r for r in entry.rows  # type: ignore[attr-defined]
                if index.row(r).session == session] if session else []
    return (own_rows, "session") if own_rows else (list(entry.rows), "exact")  # type: ignore[attr-defined]


def test_lookup_call_is_the_walk_then_session_preference() -> None:
    # the raw-key probe and the session column must answer as the canonical walk and the
    # rows' own sessions do, for every kind of query; a recorded null must not answer a NaN
    # (orjson writes NaN as null; the key writes it as text)
    index = _index(StubConfig(tools=(("http:shop/*", ToolConfig(match_on=("query",))),)),
                   function_call("get_weather", {"city": None}, {"t": 5}, session="s4"),
                   function_call("get_rain", {"city": "Rome", "mm": [1.5, float("inf")]},
                                 {"t": 6}, session="s4"))
    queries = [
        ("function", None, "get_weather", args, session)
        for args in ({"city": "Paris"}, {"city": " Paris"}, {"city": "Rome"},
                     {"city": "Oslo"}, {"city": float("nan")}, {"city": float("inf")},
                     {"city": float("-inf")}, {"city": None},
                     '{"city": "Rome"}', "not json")
        for session in ("s1", "s2", "s4", "s9", None)
    ] + [
        ("mcp", "docs", "search", {"q": "x"}, None),
        ("mcp", "docs", "search", {"q": "x"}, "s9"),
        ("mcp", "docs", "search", {"_meta": {"p": 2}, "q": "x"}, "s1"),
        ("function", None, "search", {"q": "x"}, None),  # an MCP tool called as a function
        ("http", "shop", "GET /v1/orders", {"query": {"id": "A1"}, "body": None}, "s3"),
        ("http", "shop", "GET /v1/orders", {"query": {"id": "A1"}, "body": {"x": 1}}, "s1"),
        ("function", None, "nope", {}, "s1"),
        ("function", None, "get_rain", {"mm": [1.5, float("inf")], "city": "Rome"}, "s4"),
        ("function", None, "get_rain", {"mm": [1.5, None], "city": "Rome"}, "s4"),
    ]
    for kind, server, name, args, session in queries:
        table = index.find(kind, server, name)
        key = None if table is None else table.key(args)  # the walk
        entry = None if table is None else table.table.get(key)
        expected = None if entry is None else _reference(index, entry, session)
        got = index.lookup_call(kind, server, name, args, session)
        assert got[0] is table and got[1] == key, (name, args)  # the raw shortcut's key too
        assert (got[2] is None) == (expected is None), (name, args, session)
        if expected is not None:
            assert got[2] is not None
            assert list(got[2][0]) == list(expected[0]) and got[2][1] == expected[1]
            assert got[2][:2] == index.lookup(table, key, session)  # type: ignore[arg-type]
            assert got[2][2] is entry
    for odd in (float("nan"), float("inf"), float("-inf")):  # orjson writes all three as null
        assert index.lookup_call("function", None, "get_weather",
                                                   {"city": odd}, None)[2] is None
    assert index.lookup_call("function", None, "get_weather", {"city": None}, "s4")[2] == \
        ((6,), "session", 6)
    assert index.lookup_call("function", None, "get_rain", {"city": "Rome", "mm": [1.5, 1e999]},
                             "s4")[2] == ((7,), "session", 7)
    assert index.lookup_call("function", None, "get_rain", {"city": "Rome", "mm": [1.5, None]},
                             "s4")[2] is None
    # a session that recorded nothing, and a call recorded without a session
    assert index.lookup_call("function", None, "get_weather", {"city": "Rome"},
                             "s1")[2] == ((3,), "session", 3)


def test_arguments_in_canonical_form_skip_the_walk() -> None:
    # the raw shortcut is taken: arguments already canonical are looked up without
    # `table.key` (the canonicalising walk); others take it and still hit
    index = _index()
    table = index.resolve("function", None, "get_weather")
    walked: list[object] = []
    walk = table.key

    def counting(arguments: object) -> object:
        walked.append(arguments)
        return walk(arguments)

    table.key = counting
    assert index.lookup_call("function", None, "get_weather", {"city": "Rome"}, "s1")[2]
    assert walked == []
    assert index.lookup_call("function", None, "get_weather", {"city": " Rome "}, "s1")[2]
    assert walked == [{"city": " Rome "}]

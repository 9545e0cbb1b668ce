"""The engine: layers in order, provenance, transports, repeat policy, misses, determinism."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from stubs.api import StubAnswer, ToolAnswerer, ToolQuery
from stubs.engine import StubEngine
from stubs.errors import StubConfigError
from stubs.perturb import OPERATORS, Profile, Rule, operator
from stubs.stub_config import StubConfig, ToolConfig
from stubs.testing import function_call, http_call, mcp_call, sample_calls


def q(name: str, args: Any, *, kind: str = "function", server: str | None = None,
      session: str | None = None, i: int = 0, traj: str | None = None) -> ToolQuery:
    return ToolQuery(kind=kind, name=name, arguments=args, server=server,  # type: ignore[arg-type]
                     session_id=session, call_index=i, trajectory_id=traj)


CALLS = [
    function_call("get_weather", {"city": "Paris", "units": "metric"},
                  {"city": "Paris", "temp": 21, "conditions": "sunny"}, session="s1", index=0),
    function_call("get_weather", {"city": "Paris", "units": "metric"},
                  {"city": "Paris", "temp": 17, "conditions": "rain"}, session="s2", index=0),
    function_call("get_weather", {"city": "Rome", "units": "metric"},
                  {"city": "Rome", "temp": 25, "conditions": "sunny"}, session="s2", index=1),
    function_call("job", {"id": "j1"}, {"state": "queued"}, session="s3", index=0),
    function_call("job", {"id": "j1"}, {"state": "running"}, session="s3", index=1),
    function_call("job", {"id": "j1"}, {"state": "done"}, session="s3", index=2),
    mcp_call("docs", "search", {"query": "refunds", "limit": 5},
             {"total": 1, "results": [{"id": "d1", "title": "Refund policy"}]}, session="s1",
             index=1),
    mcp_call("docs", "broken", {"x": 1}, None, error={"code": -32602, "message": "bad x"},
             session="s1", index=2),
    http_call("shop", "GET", "/v1/orders", query={"id": "A1"}, status=200,
              response={"id": "A1", "status": "paid"}, session="s2", index=2),
]


async def test_exact_session_nearest_synthetic_and_miss() -> None:
    e = StubEngine.from_calls(CALLS)
    a = await e.answer(q("get_weather", {"city": "Paris", "units": "metric"}, session="s2"))
    assert a.provenance == "session" and json.loads(a.result.content)["temp"] == 17
    a = await e.answer(q("get_weather", {"units": "metric", "city": "Paris"}, session="s9"))
    assert a.provenance == "exact" and json.loads(a.result.content)["temp"] == 21
    a = await e.answer(q("get_weather", {"city": "Paris", "units": "metrics"}))
    assert a.provenance == "nearest"
    assert a.diagnostics["nearest"]["diff"][0]["path"] == "$.units"
    assert a.diagnostics["nearest"]["matchers"]["failed"] == ["arguments"]
    a = await e.answer(q("get_weather", {"city": "Berlin", "units": "metric"}))
    assert a.provenance == "synthetic"
    body = json.loads(a.result.content)
    assert body["city"] == "Berlin" and set(body) == {"city", "temp", "conditions"}
    assert body["conditions"] in ("sunny", "rain")
    assert a.result.provenance == a.provenance
    assert e.stats() == {"calls": 4, "exact": 1, "nearest": 1, "session": 1, "synthetic": 1}


async def test_fallbacks_are_selectable_and_ordered() -> None:
    only_synth = StubEngine.from_calls(CALLS, fallbacks=("synthesize",))
    a = await only_synth.answer(q("get_weather", {"city": "Paris", "units": "metrics"}))
    assert a.provenance == "synthetic"
    none = StubEngine.from_calls(CALLS, fallbacks=())
    a = await none.answer(q("get_weather", {"city": "Berlin", "units": "metric"}))
    assert a.provenance == "miss" and a.result.is_error
    # the model sees the tool's own failure; why it missed is in the diagnostics only
    assert a.result.content == "Error executing tool get_weather"
    assert "$.city" in a.diagnostics["reason"] and "Berlin" in a.diagnostics["reason"]
    assert a.diagnostics["closest"][0]["diff"] == [
        {"path": "$.city", "query": "Berlin", "recorded": "Paris"}]
    assert none.stats()["misses"] == 1


async def test_transports_mcp_http_function() -> None:
    e = StubEngine.from_calls(CALLS)
    a = await e.answer(q("search", {"query": "refunds", "limit": "5", "_meta": {"x": 1}},
                         kind="mcp", server="docs"))
    assert a.provenance == "exact"
    assert a.mcp_result is not None and a.mcp_result["isError"] is False
    assert a.mcp_result["structuredContent"]["results"][0]["id"] == "d1"
    assert a.mcp_result["content"][0]["type"] == "text"
    a = await e.answer(q("broken", {"x": 1}, kind="mcp", server="docs"))
    assert a.mcp_error == {"code": -32602, "message": "bad x"} and a.mcp_result is None
    assert a.result.is_error
    a = await e.answer(q("GET /v1/orders", {"query": {"id": "A1"}, "body": None}, kind="http",
                         server="shop"))
    assert a.http is not None and a.http.status == 200
    assert json.loads(a.http.body) == {"id": "A1", "status": "paid"}
    # an MCP tool asked as a function tool: the content the model sees
    a = await e.answer(q("search", {"query": "refunds", "limit": 5}))
    assert a.provenance == "exact" and "Refund policy" in a.result.content
    assert a.mcp_result is None and a.http is None
    # a function tool asked over MCP: a CallToolResult built from the text
    a = await e.answer(q("get_weather", {"city": "Rome", "units": "metric"}, kind="mcp"))
    assert a.mcp_result is not None and "Rome" in a.mcp_result["content"][0]["text"]
    miss = StubEngine.from_calls(CALLS, fallbacks=())
    a = await miss.answer(q("GET /v1/orders", {"query": {"id": "ZZ"}, "body": None},
                            kind="http", server="shop"))
    # a recorded endpoint the call misses: a server error in the route's JSON form
    assert a.provenance == "miss" and a.http is not None and a.http.status == 500
    assert json.loads(a.http.body) == {"error": {"code": 500,
                                                 "message": "Internal Server Error"}}
    a = await miss.answer(q("GET /v1/customers", {"query": {}, "body": None}, kind="http",
                            server="shop"))
    assert a.http is not None and a.http.status == 404  # a path the route never served
    a = await miss.answer(q("search", {"query": "zzz"}, kind="mcp", server="docs"))
    assert a.mcp_result == {"content": [{"type": "text",
                                         "text": "Error executing tool search"}],
                            "isError": True}
    assert "No recording of mcp:docs/search" in a.diagnostics["reason"]


@pytest.mark.parametrize(("policy", "states"), [
    ("sequence", ["queued", "running", "done", "done", "done"]),
    ("cycle", ["queued", "running", "done", "queued", "running"]),
    ("first", ["queued"] * 5),
])
async def test_repeat_policy_per_trajectory(policy: str, states: list[str]) -> None:
    cfg = StubConfig(tools=(("job", ToolConfig(repeat=policy)),))
    e = StubEngine.from_calls(CALLS, config=cfg)

    async def poll(traj: str) -> list[str]:
        out = []
        for i in range(5):
            a = await e.answer(q("job", {"id": "j1"}, session="s3", i=i, traj=traj))
            out.append(json.loads(a.result.content)["state"])
        return out

    assert await poll("t1") == states
    assert await poll("t2") == states  # another trajectory starts from the beginning
    e.forget("t1")
    assert await poll("t1") == states


async def test_bad_input_never_raises() -> None:
    e = StubEngine.from_calls(CALLS)
    a = await e.answer(q("get_weather", '{"city": "Par'))
    assert a.provenance == "miss" and "not valid JSON" in a.diagnostics["reason"]
    assert a.result.content == "Error executing tool get_weather"
    a = await e.answer(q("get_wether", {"city": "Paris"}))
    assert a.provenance == "miss" and "get_weather" in a.diagnostics["reason"]
    assert a.result.content == "Unknown tool: get_wether"
    a = await e.answer(q("nothing", {}, kind="http", server="x"))
    assert a.http is not None and a.http.status == 404


async def test_engine_options_are_checked() -> None:
    with pytest.raises(StubConfigError, match="fallback"):
        StubEngine.from_calls(CALLS, fallbacks=("nearst",))
    with pytest.raises(StubConfigError, match="simulate"):
        StubEngine.from_calls(CALLS, fallbacks=("simulate",))
    with pytest.raises(StubConfigError, match="live tool"):
        StubEngine.from_calls(CALLS, miss="forward")
    with pytest.raises(StubConfigError, match="miss policy"):
        StubEngine.from_calls(CALLS, miss="ignore")


async def test_forward_miss_policy_calls_the_live_tool_and_records_it() -> None:
    live = StubEngine.from_calls([function_call("get_weather", {"city": "Oslo"},
                                                {"city": "Oslo", "temp": -3})])
    e = StubEngine.from_calls(CALLS, fallbacks=(), miss="forward", live=live,
                              profile=Profile("p", (Rule("latency", 1.0, {
                                  **OPERATORS["latency"].params, "distribution": "fixed",
                                  "ms": 5.0}),)))
    a = await e.answer(q("get_weather", {"city": "Oslo"}, session="s1", i=4))
    assert a.provenance == "live+perturbed:latency" and a.delay_s == pytest.approx(0.005)
    assert json.loads(a.result.content)["temp"] == -3
    assert [c.name for c in e.live_calls] == ["get_weather"]
    assert e.live_calls[0].session_id == "s1" and e.live_calls[0].index == 4


async def test_a_failing_operator_does_not_stop_the_replay() -> None:
    @operator("explode_for_test")
    def explode(ctx, reply, params):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    try:
        e = StubEngine.from_calls(CALLS, profile=Profile("p", (Rule("explode_for_test", 1.0,
                                                                    {}),)))
        a = await e.answer(q("get_weather", {"city": "Rome", "units": "metric"}))
        assert a.provenance == "miss" and "boom" in a.diagnostics["reason"]
        assert a.result.content == "Error executing tool get_weather"
        assert e.stats()["internal_errors"] == 1
    finally:
        OPERATORS.pop("explode_for_test")


def test_describe_names_everything_a_manifest_needs() -> None:
    e = StubEngine.from_calls(CALLS, seed=5, profile="flaky")
    d = e.describe()
    assert d["seed"] == 5 and d["fallbacks"] == ["nearest", "synthesize"] and d["miss"] == "error"
    assert d["profile"]["name"] == "flaky" and len(d["profile"]["hash"]) == 64
    assert d["profile"]["spec"]["rules"][0]["operator"] == "latency"
    assert len(d["index_hash"]) == 64 and d["calls"] == len(CALLS)
    assert d["corpus_hash"] is None and d["simulator"] is None


# -- determinism ----------------------------------------------------------------------------

WORLD = sample_calls(sessions=30, seed=1)


def _queries() -> list[ToolQuery]:
    """Per recorded session, its calls replayed in order plus one unseen call; the trajectory
    is the session."""
    out = []
    by_session: dict[str, list[Any]] = {}
    for c in WORLD:
        by_session.setdefault(c.session_id or "", []).append(c)
    for sid, calls in by_session.items():
        for c in calls:
            out.append(ToolQuery(kind=c.kind, name=c.name, arguments=c.arguments,
                                 server=c.server, session_id=sid, call_index=c.index,
                                 trajectory_id=sid))
        out.append(ToolQuery(kind="function", name="get_weather",
                             arguments={"city": f"Town{sid}", "units": "metric"},
                             session_id=sid, call_index=len(calls), trajectory_id=sid))
    return out


def _fingerprint(a: StubAnswer) -> tuple[Any, ...]:
    return (a.provenance, a.result.content, a.result.is_error, a.delay_s, a.timeout,
            a.http.model_dump_json() if a.http else None, json.dumps(a.mcp_result),
            json.dumps(a.mcp_error))


async def _run(seed: int, order: str) -> dict[tuple[str | None, int], tuple[Any, ...]]:
    e = StubEngine.from_calls(WORLD, seed=seed, profile="chaos")
    queries = _queries()
    by_traj: dict[str | None, list[ToolQuery]] = {}
    for x in queries:
        by_traj.setdefault(x.trajectory_id, []).append(x)
    results: dict[tuple[str | None, int], tuple[Any, ...]] = {}

    async def trajectory(items: list[ToolQuery]) -> None:
        for x in items:  # within a trajectory calls are sequential, as in a replay
            results[(x.trajectory_id, x.call_index)] = _fingerprint(await e.answer(x))
            await asyncio.sleep(0)

    groups = list(by_traj.values())
    if order == "reversed":
        groups.reverse()
    elif order == "shuffled":
        random.Random(42).shuffle(groups)
    if order == "sequential":
        for g in groups:
            await trajectory(g)
    else:  # every trajectory at once, interleaved by the event loop
        await asyncio.gather(*(trajectory(g) for g in groups))
    return results


async def test_same_seed_same_world_regardless_of_order_and_concurrency() -> None:
    base = await _run(7, "sequential")
    assert await _run(7, "shuffled") == base
    assert await _run(7, "reversed") == base
    perturbed = [v for v in base.values() if "+perturbed:" in v[0]]
    assert len(perturbed) > 20  # chaos really perturbs
    other = await _run(8, "shuffled")
    differing = sum(base[k] != other[k] for k in base)
    assert differing > 20


async def test_a_failing_live_tool_is_a_miss_that_says_so() -> None:
    class Down(ToolAnswerer):
        async def answer(self, query: ToolQuery) -> StubAnswer:
            raise ConnectionError("connection refused")

    e = StubEngine.from_calls(CALLS, fallbacks=(), miss="forward", live=Down())
    a = await e.answer(q("get_weather", {"city": "Lima"}))
    assert a.provenance == "miss" and "the live tool failed (connection refused)" in \
        a.diagnostics["reason"] and a.result.content == "Error executing tool get_weather"
    assert e.live_calls == [] and "internal_errors" not in e.stats()


async def test_a_registered_repeat_policy_is_asked_even_for_a_call_recorded_once() -> None:
    # the exact path keeps no repeat position for a key recorded once only under the built-in
    # policies (they answer every repeat with the one recording); a registered one is asked
    from stubs.repeat import POLICIES, policy

    asked: list[tuple[list[int], int]] = []

    @policy("spy")
    def spy(rows: Any, n: int) -> int:
        asked.append((list(rows), n))
        return int(rows[0])

    try:
        engine = StubEngine.from_calls([function_call("f", {"a": 1}, {"r": 1}, session="s1")],
                                       config=StubConfig(repeat="spy"))
        for i in range(3):
            a = await engine.answer(ToolQuery(kind="function", name="f", arguments={"a": 1},
                                              session_id="s1", call_index=i, trajectory_id="t"))
            assert a.provenance == "session" and json.loads(a.result.content) == {"r": 1}
        assert asked == [([0], 0), ([0], 1), ([0], 2)]
    finally:
        POLICIES.pop("spy")


async def test_a_recorded_call_answers_alike_however_it_is_sent() -> None:
    # a dict in recorded key order, or JSON text with the keys reversed (as a model sends
    # them): the same recordings, the same repeat positions, the same answers
    calls = sample_calls(20, seed=3)
    as_dicts, as_text = StubEngine.from_calls(calls), StubEngine.from_calls(calls)
    rnd = random.Random(5)
    for i, c in enumerate(rnd.choice(calls) for _ in range(300)):  # repeats included
        args = c.arguments
        text = json.dumps(dict(reversed(list(args.items())))) if isinstance(args, dict) \
            else json.dumps(args)
        session = c.session_id if i % 3 else "other"
        a = await as_dicts.answer(q(c.name, args, kind=c.kind, server=c.server,
                                    session=session, i=i, traj=f"t{i % 4}"))
        b = await as_text.answer(q(c.name, text, kind=c.kind, server=c.server,
                                   session=session, i=i, traj=f"t{i % 4}"))
        assert a.provenance in ("exact", "session") and a == b
    assert as_dicts.stats() == as_text.stats()

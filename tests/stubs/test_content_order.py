"""Content order: the fallbacks answer the same from the same recordings, whatever order the
cassette holds them in (concurrent sessions interleave by timing)."""

from __future__ import annotations

import random
from collections import defaultdict

from recorder.recorded_tool_call import RecordedToolCall
from stubs.api import StubAnswer, ToolQuery
from stubs.content_order import key_rank, keys_in_content_order, rows_in_content_order
from stubs.engine import StubEngine
from stubs.index import StubIndex
from stubs.testing import function_call, sample_calls


def interleavings(calls: list[RecordedToolCall]) -> list[list[RecordedToolCall]]:
    """The same recordings in three cassette orders, each session's own order kept: session
    after session, round robin, and a seeded random interleaving."""
    by_session: dict[str | None, list[RecordedToolCall]] = defaultdict(list)
    for c in calls:
        by_session[c.session_id].append(c)
    sessions = list(by_session.values())
    round_robin = [s[i] for i in range(max(map(len, sessions))) for s in sessions if i < len(s)]
    rnd, queues, shuffled = random.Random(4), [list(s) for s in reversed(sessions)], []
    while queues:
        q = rnd.choice(queues)
        shuffled.append(q.pop(0))
        if not q:
            queues.remove(q)
    return [calls, round_robin, shuffled]


def unrecorded_queries(recorded: list[RecordedToolCall]) -> list[ToolQuery]:
    """Calls of the same tools that the recordings never saw (another world's sessions)."""
    seen = {(c.kind, c.server, c.name, repr(c.arguments)) for c in recorded}
    return [ToolQuery(kind=c.kind, name=c.name, server=c.server, arguments=c.arguments,
                      session_id="replayed", call_index=i, trajectory_id="t")
            for i, c in enumerate(sample_calls(30, seed=11))
            if (c.kind, c.server, c.name, repr(c.arguments)) not in seen]


def _shown(a: StubAnswer) -> tuple[object, ...]:
    return (a.provenance, a.result.content, a.result.is_error, repr(a.result.structured),
            repr(a.http), repr(a.mcp_result), repr(a.diagnostics))


async def test_fallback_answers_do_not_depend_on_the_cassette_order() -> None:
    calls = sample_calls(40, seed=1)
    orders = interleavings(calls)
    assert orders[0] != orders[1] and orders[1] != orders[2]
    queries = unrecorded_queries(calls)
    seen: list[list[tuple[object, ...]]] = []
    for fallbacks in (("nearest", "synthesize"), ("synthesize",)):
        answers = []
        for order in orders:
            engine = StubEngine.from_calls(order, fallbacks=fallbacks, seed=3)
            answers.append([_shown(await engine.answer(q)) for q in queries])
        assert answers[0] == answers[1] == answers[2], fallbacks
        seen.append(answers[0])
    provenances = {a[0] for run in seen for a in run}
    assert {"nearest", "synthetic"} <= provenances  # both fallbacks were exercised


def test_keys_in_content_order_follow_the_keys_not_their_recording() -> None:
    calls = [function_call("lookup", {"id": f"u{i}"}, {"ok": i}, session=f"s{i % 3}")
             for i in range(50)]
    a = StubIndex.build(calls).resolve("function", None, "lookup")
    b = StubIndex.build(reversed(calls)).resolve("function", None, "lookup")
    assert a.keys != b.keys  # recorded order differs ...
    assert keys_in_content_order(a) == keys_in_content_order(b)  # ... content order does not
    assert keys_in_content_order(a, 5) == keys_in_content_order(a)[:5]
    assert keys_in_content_order(a) != sorted(a.keys)  # a spread-out sample, not alphabetical
    # the rank is stable across processes (crc32, not the salted built-in hash)
    assert key_rank(b'{"id":"u1"}') == (4_022_454_970, True, b'{"id":"u1"}')


def test_rows_in_content_order_keep_whole_keys_and_the_limit() -> None:
    calls = [function_call("poll", {"job": "j1"}, {"state": s}, session=sess)
             for sess, s in (("s2", "done"), ("s1", "running"), ("s1", "done"))]
    calls += [function_call("poll", {"job": f"j{i}"}, {"state": "done"}) for i in range(2, 6)]
    index = StubIndex.build(calls)
    table = index.resolve("function", None, "poll")
    rows = rows_in_content_order(index, table, 100)
    assert sorted(r for r, _ in rows) == list(range(7))
    j1 = [row for _, row in rows if row.arguments == {"job": "j1"}]
    # a key's recordings by response, then session: not by when they were recorded
    assert [(r.content, r.session) for r in j1] == [('{"state": "done"}', "s1"),
                                                     ('{"state": "done"}', "s2"),
                                                     ('{"state": "running"}', "s1")]
    assert len(rows_in_content_order(index, table, 2)) == 2

"""Fidelity on worlds where the right answer is known."""

from __future__ import annotations

import pytest

from recorder.recorded_tool_call import RecordedToolCall
from stubs.errors import StubConfigError
from stubs.fidelity import held_out, measure, response_similarity, same_response
from stubs.reply import Reply
from stubs.testing import function_call, sample_calls


def known_world() -> list[RecordedToolCall]:
    calls = []
    for s in range(30):
        sid = f"s{s}"
        calls.append(function_call("square", {"n": s % 10}, {"n": s % 10, "square": (s % 10) ** 2},
                                   session=sid, index=0))
        calls.append(function_call("lookup", {"id": f"u{s}"},
                                   {"id": f"u{s}", "name": f"User {s}", "active": s % 2 == 0},
                                   session=sid, index=1))
    return calls


async def test_fidelity_report_on_a_known_world() -> None:
    calls = known_world()
    report = await measure(lambda: calls, holdout=0.3, seed=4)
    held = sum(held_out(4, i, 0.3) for i in range(len(calls)))
    assert report["overall"]["calls"] == held and report["indexed"] == len(calls) - held
    square, lookup = report["tools"]["square"], report["tools"]["lookup"]
    # every square(n) was recorded three times: held-out ones are answered exactly and right
    assert square["exact_rate"] == 1.0 and square["match_rate"] == 1.0
    assert square["similarity"] == 1.0 and set(square["by_layer"]) == {"exact"}
    # every lookup id is unique: never exact, answered by shape, close in structure only
    assert lookup["exact_rate"] == 0.0 and lookup["match_rate"] == 0.0
    assert set(lookup["by_layer"]) <= {"synthetic", "nearest"}
    assert 0.5 < lookup["similarity"] < 1.0
    for part in (report["overall"], square, lookup):
        assert set(part) >= {"calls", "exact_rate", "by_layer", "similarity"}
    n = report["overall"]["calls"]
    assert report["overall"]["exact_rate"] == round(square["calls"] / n, 4)


async def test_fidelity_is_reproducible_and_depends_on_the_seed() -> None:
    calls = sample_calls(sessions=40, seed=5)
    a = await measure(lambda: calls, holdout=0.2, seed=1)
    assert await measure(lambda: calls, holdout=0.2, seed=1) == a
    assert await measure(lambda: calls, holdout=0.2, seed=2) != a
    # deterministic tools of the sample world are answered right whenever answered exactly
    for tool in ("read_file", "mcp:fs/read_file"):
        if tool in a["tools"]:
            assert a["tools"][tool]["match_rate"] == a["tools"][tool]["exact_rate"]
    assert a["tools"]["get_job_status"]["by_layer"].keys() <= {"session", "exact", "synthetic",
                                                              "nearest"}


async def test_holdout_must_be_a_share() -> None:
    with pytest.raises(StubConfigError, match="--holdout"):
        await measure(lambda: [], holdout=1.0)


def test_response_similarity() -> None:
    a = Reply(content='{"a": 1, "b": "x"}')
    assert response_similarity(a, Reply(content='{"b": "x", "a": 1}')) == 1.0
    assert same_response(a, Reply(content='{"b":"x","a":1}'))
    assert response_similarity(a, Reply(content='{"a": 2, "b": "x"}')) > 0.8
    assert response_similarity(a, Reply(content="oops", is_error=True)) == 0.0
    http = Reply(content="{}", status=200, body=b"{}")
    assert response_similarity(http, http.with_(status=404)) == 0.5
    assert response_similarity(Reply(content="hello world"), Reply(content="hello there")) == \
        pytest.approx(1 / 3)


async def test_fidelity_reports_plausibility_and_spread() -> None:
    calls = []
    for s in range(40):
        sid = f"s{s}"
        calls.append(function_call("run_tests", {"target": "tests/"},
                                   "2 failed" if s % 2 else "5 passed", session=sid, index=0))
        calls.append(function_call("shell", {"command": "pytest -q" if s % 2 else "git status",
                                             "timeout": 30, "cwd": f"/w/{s}"},
                                   "ok" if s % 2 else "On branch main", session=sid, index=1))
    report = await measure(lambda: calls, holdout=0.3, seed=2)
    tests, shell = report["tools"]["run_tests"], report["tools"]["shell"]
    # the same call recorded with two answers: answers drawn in proportion, not one everywhere
    assert tests["varied_calls"] == tests["calls"] > 0
    assert tests["distribution_overlap"] >= 0.7
    assert shell["varied_calls"] == 0 and shell["distribution_overlap"] is None
    # fallback answers come from the same program only
    assert shell["fallbacks"] > 0 and shell["plausible_rate"] == 1.0
    assert report["overall"]["plausible_rate"] == 1.0

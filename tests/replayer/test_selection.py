"""Session selection: the filter language and deterministic (stratified) sampling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replayer.errors import ReplayConfigError
from replayer.selection import Filter, SessionFacts, sample, select


def facts(i: int, segment: str | None = "a", turns: int = 2, tools=("lookup",)) -> SessionFacts:
    labels = {"segment": segment} if segment is not None else {}
    return SessionFacts(id=f"s{i:03d}", labels=labels, turns=turns, messages=2 * turns + 1,
                        tool_calls=len(tools), tools=tuple(tools), user_messages=turns)


@pytest.mark.parametrize(("expr", "expected"), [
    ('segment == "a"', True), ('segment != "a"', False), ("turns >= 2 and turns < 3", True),
    ('"lookup" in tools', True), ('"search" not in tools', True), ('segment in ["b", "c"]', False),
    ("not (turns == 2)", False), ('model == "gpt"', False), ("model == None", True),
    ("missing > 3", False), ('"s0" in id or turns > 10', True), ("1 < turns < 3", True),
])
def test_filter_language(expr, expected):
    assert Filter(expr)(facts(1)) is expected


@pytest.mark.parametrize("expr", ["__import__('os').system('x')", "turns.real", "[x for x in t]",
                                  "lambda: 1", "turns + 1 > 2", "segment[0] == 'a'"])
def test_filter_refuses_anything_but_comparisons(expr):
    with pytest.raises(ReplayConfigError, match="filters do not allow"):
        Filter(expr)


def test_stratified_sample_is_proportional_and_deterministic():
    pool = ([facts(i, "a") for i in range(60)] + [facts(100 + i, "b") for i in range(30)]
            + [facts(200 + i, None) for i in range(10)])
    chosen, info = select(pool, n=10, stratify_by="segment", seed=4)
    assert info["strata"] == {"(none)": 1, "a": 6, "b": 3}
    assert [f.id for f in chosen] == [f.id for f in select(pool, n=10, stratify_by="segment",
                                                           seed=4)[0]]
    assert [f.id for f in chosen] != [f.id for f in select(pool, n=10, stratify_by="segment",
                                                           seed=5)[0]]
    ids = [f.id for f in pool]
    assert [f.id for f in chosen] == sorted((f.id for f in chosen), key=ids.index)  # in order


@given(sizes=st.lists(st.integers(1, 20), min_size=1, max_size=5), n=st.integers(1, 40),
       seed=st.integers(0, 3))
def test_sample_size_and_membership(sizes, n, seed):
    pool = [facts(100 * k + i, f"seg{k}") for k, size in enumerate(sizes) for i in range(size)]
    got = sample(pool, n, seed=seed, stratify_by="segment")
    assert len(got) == min(n, len(pool)) and len({f.id for f in got}) == len(got)
    assert {f.id for f in got} <= {f.id for f in pool}


def test_select_combines_filter_and_sample():
    pool = [facts(i, "a" if i % 2 else "b") for i in range(20)]
    chosen, info = select(pool, filter_expr='segment == "a"', n=4, seed=1)
    assert len(chosen) == 4 and all(f.labels["segment"] == "a" for f in chosen)
    assert info == {"filter": 'segment == "a"', "sample": 4, "stratify_by": None,
                    "sessions_in_corpus": 20, "sessions": 4}

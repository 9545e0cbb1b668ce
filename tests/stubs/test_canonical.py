"""Canonical keys: the same call written differently gets the same key; volatile fields vanish."""

from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stubs.canonical import (
    VOLATILE,
    Canonicalizer,
    CanonicalRules,
    parse_arguments,
    raw_key,
    thaw,
)
from stubs.errors import StubConfigError
from stubs.index import StubIndex
from stubs.jsonpath import PathPattern
from stubs.testing import function_call

C = Canonicalizer(CanonicalRules())


def test_key_order_whitespace_and_numbers_do_not_matter() -> None:
    a = {"city": "  New   York ", "days": 3.0, "opts": {"b": 1, "a": [1, 2.50]}}
    b = {"opts": {"a": [1, 2.5], "b": 1}, "days": "3", "city": "New York"}
    assert C.freeze(a) == C.freeze(b)
    assert C.text(a) == '{"city":"New York","days":3,"opts":{"a":[1,2.5],"b":1}}'


def test_values_that_differ_still_differ() -> None:
    assert C.freeze({"city": "Paris"}) != C.freeze({"city": "paris"})
    assert C.freeze([1, 2]) != C.freeze([2, 1])
    assert C.freeze({"a": 1}) != C.freeze([["a", 1]])  # an object is never a list of pairs
    assert C.freeze({"zip": "02139"}) != C.freeze({"zip": 2139})  # not a canonical number


def test_numeric_strings_can_be_kept_apart() -> None:
    strict = Canonicalizer(CanonicalRules(numeric_strings=False))
    assert strict.freeze({"n": "10"}) != strict.freeze({"n": 10})


def test_mcp_meta_is_ignored_by_default() -> None:
    assert C.freeze({"q": "x", "_meta": {"progressToken": 7}}) == C.freeze({"q": "x"})


def test_volatile_fields_by_path_key_and_value() -> None:
    c = Canonicalizer(CanonicalRules(
        ignore_paths=("$.request_id", "$..ts", "$.items[*].etag"),
        ignore_keys=("^x-trace",),
        ignore_values=(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",)))
    a = {"request_id": 1, "q": {"ts": 5, "k": 1}, "items": [{"etag": "a", "id": 1}],
         "x-trace-id": "t1", "ref": "123e4567-e89b-12d3-a456-426614174000"}
    b = {"request_id": 2, "q": {"ts": 9, "k": 1}, "items": [{"etag": "b", "id": 1}],
         "x-trace-id": "t2", "ref": "00000000-0000-0000-0000-000000000000"}
    assert c.freeze(a) == c.freeze(b)
    assert c.value(a) == {"q": {"k": 1}, "items": [{"id": 1}], "ref": VOLATILE}
    assert c.freeze(a) != c.freeze({**b, "items": [{"etag": "b", "id": 2}]})


def test_json_paths() -> None:
    assert PathPattern("$..ts").matches(("body", "items", 0, "ts"))
    assert PathPattern("$.a[*].b").matches(("a", 3, "b"))
    assert not PathPattern("$.a[*].b").matches(("a", "b"))
    assert PathPattern("$.a[0]").matches(("a", 0)) and not PathPattern("$.a[0]").matches(("a", 1))
    assert PathPattern("$['x y'].z").matches(("x y", "z"))
    for bad in ("request_id", "$", "$.a[", "$.a]"):
        with pytest.raises(StubConfigError, match="JSON path"):
            PathPattern(bad)


def test_arguments_that_are_not_json() -> None:
    assert parse_arguments('{"a": 1}') == ({"a": 1}, True)
    assert parse_arguments("{bad") == ("{bad", False)
    assert parse_arguments(b'[1]') == ([1], True)
    assert C.freeze("{bad ") == C.freeze("{bad")  # still keyed, as text


def test_python_callers_with_odd_values() -> None:
    assert C.text({1: "a", "b": float("nan")}) == '{"1":"a","b":"nan"}'
    assert C.freeze((1, 2)) == C.freeze([1, 2])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


def _shuffled(value: object, rnd: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    if isinstance(value, str):
        return f"  {value} " if value.strip() else value
    return value


@settings(max_examples=100, deadline=None)
@given(json_values, st.integers(0, 1000))
def test_property_reordering_and_padding_keep_the_key(value: object, seed: int) -> None:
    assert C.freeze(_shuffled(value, random.Random(seed))) == C.freeze(value)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_property_canonical_form_is_a_fixed_point_and_valid_json(value: object) -> None:
    frozen = C.freeze(value)
    assert C.freeze(thaw(frozen)) == frozen
    assert json.loads(C.text(value)) == C.value(value)
    assert hash(frozen) == hash(C.freeze(value))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=127), max_size=20))
def test_property_surrounding_whitespace_changes_nothing(s: str) -> None:
    assert C.freeze({"k": s}) == (C.freeze({"k": " " + s + " "}))


# -- keys as bytes and the raw fast path ------------------------------------------------------

RULESETS = [CanonicalRules(), CanonicalRules(numeric_strings=False),
            CanonicalRules(float_digits=4),
            CanonicalRules(ignore_keys=("^_meta$", "^x-"),
                           ignore_values=(r"[0-9a-f]{8}-[0-9a-f]{4}", r"\d{4}-\d\d-\d\d.*"))]

odd_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
    | st.sampled_from([float("nan"), float("inf"), -float("inf"), 2.9999999999999996])
    | st.sampled_from(["10", " 3.0 ", "1e400", "-0", "2.9999999999999996", "nan", "inf",
                       "<volatile>", "0123", "1234abcd-9f00 x", "2026-01-02T03:04:05Z"])
    | st.text(st.characters(codec="utf-8") | st.sampled_from(" \t\u00a0\u2000e\u0301\u212b"),
              max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "_meta", "x-id", "é", "e\u0301"])
                      | st.text(max_size=4), children, max_size=4),
    max_leaves=16)


@settings(max_examples=400, deadline=None)
@given(odd_values, st.sampled_from(range(len(RULESETS))))
def test_property_canonicalising_is_idempotent(value: object, rules: int) -> None:
    # what lets arguments equal to a canonical value be looked up without the walk
    c = Canonicalizer(RULESETS[rules])
    assert c.key(c.value(value)) == c.key(value)


@settings(max_examples=400, deadline=None)
@given(odd_values, st.sampled_from(range(len(RULESETS))))
@example({"x": float("nan")}, 0)
def test_property_a_raw_key_that_is_a_key_is_the_key(value: object, rules: int) -> None:
    # `raw_key(v)` names the JSON value orjson wrote; when that value's key is those very
    # bytes (it is canonical), v's own key must be them too, or the fast path would answer
    # a call with another call's recording
    c = Canonicalizer(RULESETS[rules])
    raw = raw_key(value)
    if raw is not None and c.key(orjson.loads(raw)) == raw:
        assert c.key(value) == raw


@settings(max_examples=300, deadline=None)
@given(odd_values, odd_values)
@example({"x": None}, {"x": float("nan")})
@example({"x": float("nan")}, {"x": None})
def test_property_lookup_call_answers_as_the_walk(recorded: object, other: object) -> None:
    # the index's raw-key shortcut (`StubIndex.key_of`) must give the walk's key and hit
    # exactly when the walk's key was recorded
    index = StubIndex.build([function_call("t", recorded, {"r": 1}, session="s"),
                             function_call("t", {"in": recorded}, {"r": 2})])
    table = index.resolve("function", None, "t")
    raw = raw_key(recorded)
    for query in (recorded, other, {"in": other}, orjson.loads(raw) if raw else other):
        walk = table.key(query)
        got = index.lookup_call("function", None, "t", query, "s")
        assert got[1] == walk
        assert (got[2] is not None) == (walk in table.table)


def test_raw_keys_never_pass_nan_for_null_or_odd_types_for_json() -> None:
    import datetime
    import enum

    class Colour(enum.Enum):
        RED = "red"

    assert raw_key({"x": float("nan")}) is None and raw_key([1, [float("-inf")]]) is None
    assert raw_key({"x": None}) == b'{"x":null}'
    assert C.key({"x": float("nan")}) != C.key({"x": None})
    for odd in (2**70, "\udc80", {1: "a"}, datetime.date(2026, 1, 2), b"x"):
        assert raw_key({"v": odd}) is None
    # members key by value, as JSON writers write them
    assert raw_key({"c": Colour.RED}) == C.key({"c": Colour.RED}) == C.key({"c": "red"})
    assert C.key(2.9999999999999996) == C.key(3) == b"3"
    assert isinstance(C.key({"big": 2**70}), tuple)  # orjson cannot write it: the frozen form


def test_volatile_paths_turn_the_raw_fast_path_off() -> None:
    # dropping `$.items[0]` is not idempotent (twice drops two items): no raw keys there
    c = Canonicalizer(CanonicalRules(ignore_paths=("$.items[0]",)))
    assert not c.raw_keys and C.raw_keys
    assert c.key(c.value({"items": [1, 2, 3]})) != c.key({"items": [1, 2, 3]})


@settings(max_examples=300, deadline=None)
@given(odd_values, st.sampled_from(range(len(RULESETS))))
def test_property_the_value_walk_is_thaw_of_freeze(value: object, rules: int) -> None:
    # `value` (what keys are written from) builds the JSON value directly; it must be the
    # frozen form thawed, written out to the same bytes
    c = Canonicalizer(RULESETS[rules])
    fast, ref = c.value(value), thaw(c.freeze(value))
    assert fast == ref
    try:
        expected = orjson.dumps(ref, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return
    assert orjson.dumps(fast, option=orjson.OPT_SORT_KEYS) == expected == c.key(value)


def test_corner_cases_the_raw_path_must_agree_on() -> None:
    import collections
    import enum

    class Weird(enum.Enum):
        NAN = float("nan")

    # an enum member whose value is NaN is written as null by orjson: no raw key
    assert raw_key({"x": Weird.NAN}) is None and raw_key([Weird.NAN]) is None
    assert C.key({"x": Weird.NAN}) == C.key({"x": float("nan")}) != C.key({"x": None})
    # a volatile rule on "nan" applies to a NaN as to the text it keys as
    v = Canonicalizer(CanonicalRules(ignore_values=("nan",)))
    assert v.key(float("nan")) == v.key("nan") == v.key(VOLATILE)
    # rounding past the largest float keeps the value (4 digits of 1.7975e308 would be inf)
    f = Canonicalizer(CanonicalRules(float_digits=4))
    assert f.key([1.7975000000000001e308]) == f.key(f.value([1.7975000000000001e308])) \
        == orjson.dumps([1.7975000000000001e308])
    # subclasses of dict, list and tuple key as what they hold, on every walk
    ordered = collections.OrderedDict([("b", 1), ("a", [2])])
    point = collections.namedtuple("point", "x y")(1, 2)
    assert C.key(ordered) == C.key({"a": [2], "b": 1}) == b'{"a":[2],"b":1}'
    assert C.key({"p": point}) == C.key({"p": [1, 2]})
    assert C.freeze(ordered) == C.freeze({"a": [2], "b": 1})

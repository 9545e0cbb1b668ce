"""Canonical keys: the same call written differently gets the same key; volatile fields vanish."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stubs.canonical import VOLATILE, Canonicalizer, CanonicalRules, parse_arguments, thaw
from stubs.errors import StubConfigError
from stubs.jsonpath import PathPattern

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
def test_property_the_plain_string_fast_path_changes_nothing(s: str) -> None:
    # strings the fast path passes through untouched must already be canonical
    if C._plain(s):
        assert C._string(s) == s
    assert C.freeze({"k": s}) == (C.freeze({"k": " " + s + " "}))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_property_the_fast_walk_equals_the_general_walk(value: object) -> None:
    # the lookup hot path (`fast_freeze`: nulls, ints and plain strings passed through) against
    # the general path-aware walk; repr too, so True/1 or 1/1.0 mix-ups cannot hide
    assert C.fast_freeze is not None
    fast, general = C.fast_freeze(value), C._walk_paths(value, ())
    assert fast == general and repr(fast) == repr(general)

"""`recorder.fastjson.loads` against the reference it replaces, `json.loads`: same values (same
types, same key order), same errors, on generated documents and near-misses."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from recorder.fastjson import MISS, loads, try_loads
from recorder.protocols.parsed import canonical_json
from recorder.protocols.sse import SseEvent, decode_json_events, parse_sse

_BIG = st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**66),
                 st.integers(min_value=-(2**66), max_value=-(2**62)))
_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
_SCALARS = st.one_of(st.none(), st.booleans(), _BIG, st.floats(allow_nan=True), _TEXT)
_VALUES = st.recursive(_SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(_TEXT, kids, max_size=4)), max_leaves=20)

# number literals as they may appear on the wire (long mantissas, exponents, overflow)
_DIGITS = st.text("0123456789", min_size=1, max_size=30)
_NUMBER = st.builds(lambda sign, whole, frac, exp: sign + whole.lstrip("0").rjust(1, "0") + frac
                    + exp, st.sampled_from(["", "-"]), _DIGITS,
                    st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d)),
                    st.one_of(st.just(""), st.builds(lambda e, s, n: e + s + str(n),
                                                     st.sampled_from("eE"),
                                                     st.sampled_from(["", "+", "-"]),
                                                     st.integers(0, 400))))


def _outcome(fn: Any, doc: bytes | str) -> str:
    """The value's repr (types, float forms and key order included) or the error's text."""
    try:
        return "value " + repr(fn(doc))
    except ValueError as exc:
        return f"error {type(exc).__name__}: {exc}"


def _reference(doc: bytes | str) -> Any:
    return json.loads(doc.decode("utf-8") if isinstance(doc, bytes) else doc)


@settings(max_examples=150, deadline=None)
@given(_VALUES, st.booleans(), st.booleans())
def test_loads_matches_json_on_generated_documents(value: Any, ascii_: bool,
                                                   as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_)
    doc: bytes | str = text
    if as_bytes:
        try:
            doc = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates cannot be UTF-8 bytes; test the text
            doc = text
    assert _outcome(loads, doc) == _outcome(_reference, doc)


@settings(max_examples=150, deadline=None)
@given(_NUMBER)
@example("18446744073709551616")
@example("-9223372036854775809")
@example("1e400")
@example("123456789012345678.123456789012345678e-5")
def test_loads_matches_json_on_number_literals(number: str) -> None:
    for doc in (number, f"[{number}]", f'{{"n": {number}}}'):
        assert _outcome(loads, doc) == _outcome(_reference, doc)
        assert _outcome(loads, doc.encode()) == _outcome(_reference, doc.encode())


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40),
    _VALUES.map(lambda v: json.dumps(v)[:-1]),   # truncated
    _VALUES.map(lambda v: json.dumps(v) + ","),  # trailing garbage
))
@example(b"\xef\xbb\xbf{}")
@example(b'"\\ud800"')
@example(b'{"a": 1, "a": 2, "b": 3}')
@example(b"NaN")
@example(b'"\xff"')
@example('"\ud800"')
def test_loads_matches_json_on_near_misses(doc: bytes | str) -> None:
    assert _outcome(loads, doc) == _outcome(_reference, doc)


def test_try_loads_leaves_long_integers_to_json() -> None:
    assert try_loads(b"[18446744073709551616]") is MISS
    assert loads(b"[18446744073709551616]") == [18446744073709551616]
    assert try_loads(b"NaN") is MISS
    assert try_loads(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}


def test_canonical_json_is_what_json_dumps_builds() -> None:
    value = {"b": [1, 2.0, float("nan")], "a": {"é": None, "3": True}, "c": b"x"}
    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"),
                                               ensure_ascii=False, default=str)


def _event_reference(lines: list[str], last_id: str | None) -> SseEvent | None:
    data, name = [], None
    for line in lines:
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id":
            last_id = value
    return SseEvent("\n".join(data), name, last_id) if data else None


_LINE = st.one_of(
    st.builds(lambda v: "data: " + v, st.text("ab: {}\"", max_size=6)),
    st.builds(lambda v: "event: " + v, st.text("ab :x", max_size=6)),
    st.builds(lambda v: "event:" + v, st.text("ab :", max_size=4)),
    st.builds(lambda v: "id: " + v, st.text("0123", max_size=3)),
    st.sampled_from([": comment", "data:", "data", "retry: 5", "event: ", "data: x"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_LINE, min_size=1, max_size=3), max_size=5))
def test_parse_sse_fast_paths_match_the_line_rules(blocks: list[list[str]]) -> None:
    stream = "".join("\n".join(b) + "\n\n" for b in blocks)
    expected, last_id = [], None
    for lines in blocks:
        event = _event_reference(lines, last_id)
        for line in lines:
            if line.partition(":")[0] == "id":
                v = line.partition(":")[2]
                last_id = v[1:] if v.startswith(" ") else v
        if event is not None:
            expected.append(event)
    events, problems = parse_sse(stream.encode())
    assert events == expected
    assert problems == []
    assert [repr(v) for v in decode_json_events(events)] == [
        repr(_value_or_error(e.data)) for e in events]


def _value_or_error(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        return exc


def _canonical_reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


_KEYS = st.text(st.characters(codec=None), max_size=6)
_PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), _BIG, _TEXT),
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(_KEYS, kids, max_size=5)),
    max_leaves=25)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_PLAIN, _VALUES))
@example({"b": 1, "a": {"é": None, "\U0001f600": True, "\uffff": [2**64, "\ud800"]}})
def test_canonical_json_fast_path_is_byte_identical(value: Any) -> None:
    try:
        expected = _canonical_reference(value)
    except (TypeError, ValueError):  # e.g. keys json cannot sort; not a value we key on
        return
    assert canonical_json(value) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=4) | st.sampled_from(["Content-Type", "İD", "\u212aey"]),
                          st.text(max_size=3)), max_size=5),
       st.text(max_size=4) | st.sampled_from(["content-type", "i̇d", "key", "KEY", "id"]))
def test_header_value_matches_the_plain_scan(headers: list[tuple[str, str]], name: str) -> None:
    from recorder.protocols.bodies import header_value

    expected = next((v for k, v in headers if k.lower() == name.lower()), None)
    assert header_value(headers, name) == expected

"""The replay hot path's fast encoders equal the plain references they replace.

Each fast path reuses per-message work (memoised by object identity); each test feeds it
messages it has seen and messages it has not, and compares with the straightforward encoding.
"""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder import codec
from recorder.records import record_to_obj
from recorder.session import ContentPart, Message, Session, ToolCall, ToolDef, ToolResult
from recorder.turns import turns
from replayer.memo import NO_MEMO, IdentityMemo, Memos
from replayer.run_folder import record_payload
from replayer.testing.synthetic_sessions import TOOLS, support_session
from replayer.wire import openai_chat
from replayer.wire.codec_helpers import (
    _LONG_NUMBER,
    _MAYBE_DIFFERENT,
    compact,
    json_text,
    loads,
    long_number,
    maybe_different,
    scalar_text,
    splice_body,
)

text = st.text(max_size=12)  # any unicode: the ASCII escapes must match too
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6)
message = st.builds(
    Message, role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.lists(st.builds(ContentPart, text=text), max_size=2),
    tool_calls=st.lists(st.builds(ToolCall, id=text, name=text, arguments=json_value),
                        max_size=2),
    tool_call_id=st.none() | text,
    result=st.none() | st.builds(ToolResult, content=text, structured=json_value),
    origin=st.sampled_from(["recorded", "generated"]),
    exchange_id=st.none() | text, usage=st.dictionaries(text, st.integers(0, 10**6), max_size=2))
tool = st.builds(ToolDef, name=text, description=text,
                 input_schema=st.dictionaries(text, json_value, max_size=2))
params = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 10**6), "seed": st.integers(),
    "stop": st.lists(text, max_size=2), "tool_choice": st.sampled_from(["auto", "none"]),
    "user": text})


@settings(max_examples=80, deadline=None)
@given(model=text, messages=st.lists(message, max_size=4), tools=st.lists(tool, max_size=2),
       params=params, stream=st.booleans())
def test_chat_body_bytes_equal_the_plain_encoding(model, messages, tools, params, stream):
    expected = json.dumps(openai_chat.encode_request(model, messages, tools, params,
                                                     stream=stream), separators=(",", ":"))
    assert openai_chat.encode_body(model, messages, tools, params,
                                   stream=stream) == expected.encode()
    memos = Memos()
    for _ in range(2):  # the second time every message's text comes from the memo
        assert openai_chat.encode_body(model, messages, tools, params, stream=stream,
                                       memos=memos) == expected.encode()


def test_chat_body_with_non_finite_schema_floats_equals_the_plain_encoding():
    tools = [ToolDef(name="f", input_schema={"type": "object", "minimum": v})
             for v in (math.nan, math.inf, 1e-05, 0.5)]
    m = Message(role="user", content=[ContentPart(text="hi")])
    expected = compact(openai_chat.encode_request("m", [m], tools, {"temperature": math.nan}))
    assert openai_chat.encode_body("m", [m], tools, {"temperature": math.nan}) == \
        expected.encode()


def test_chat_body_of_shared_prefixes_equals_the_plain_encoding():
    s = support_session("s1", 6)
    memos = Memos()
    for t in turns(s):
        prefix = t.prefix(s)
        expected = compact(openai_chat.encode_request("m", prefix, s.tools, s.params)).encode()
        assert openai_chat.encode_body("m", prefix, s.tools, s.params) == expected
        assert openai_chat.encode_body("m", prefix, s.tools, s.params, memos=memos) == expected
        assert compact(openai_chat.encode_request("m", prefix, s.tools, s.params,
                                                  memos=memos)).encode() == expected


@settings(max_examples=80, deadline=None)
@given(messages=st.lists(message, max_size=4), sample=st.integers(0, 3),
       labels=st.dictionaries(text, text, max_size=2))
def test_record_payload_equals_the_recorder_encoding(messages, sample, labels):
    session = Session(id="t#0@0", messages=messages, tools=list(TOOLS), labels=labels,
                      params={"temperature": 0.5, "model": "m"})
    again = session.model_copy(update={"messages": [*messages, *messages]})  # shared objects
    memos = Memos()
    for s in (session, session, again):
        # the same bytes, or the same refusal (msgpack holds no integer beyond 64 bits)
        expected = _outcome(lambda x: codec.encode(record_to_obj(x)), s)
        assert _outcome(record_payload, s) == expected
        assert _outcome(lambda x: record_payload(x, memos), s) == expected


def _outcome(fn, arg):
    try:
        return fn(arg)
    except OverflowError as exc:
        return type(exc)


@settings(max_examples=150, deadline=None)
@given(value=json_value | st.integers(min_value=2**63) | st.integers(max_value=-2**63)
       | st.just(math.inf) | st.just(-math.inf))
def test_loads_reads_what_json_reads(value):
    raw = json.dumps(value)
    assert loads(raw.encode()) == json.loads(raw)


def test_loads_refuses_what_json_refuses():
    for bad in (b"", b"{", b'{"a": [1,', b"not json"):
        try:
            json.loads(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(bad)
        try:
            loads(bad)
        except ValueError:
            continue
        raise AssertionError(f"loads accepted {bad!r}")
    assert loads(b'"\\ud800"') == json.loads(b'"\\ud800"')  # a lone surrogate, as json reads it


def test_identity_memo_drops_the_oldest_past_its_size_and_stays_correct():
    calls: list[int] = []

    def square(box: list[int]) -> int:
        calls.append(box[0])
        return box[0] ** 2

    memo: IdentityMemo[list[int], int] = IdentityMemo(square, size=10)
    boxes = [[i] for i in range(25)]
    assert [memo(b) for b in boxes] == [i * i for i in range(25)]
    assert len(memo._entries) <= 10
    assert memo(boxes[-1]) == 24 * 24 and calls.count(24) == 1  # recent: still memoised
    assert memo(boxes[0]) == 0 and calls.count(0) == 2            # oldest: computed again


tricky_text = st.text(max_size=12) | st.text(st.characters(max_codepoint=0x7f), max_size=8) | \
    st.sampled_from(["\x7f", "\x00\x1f", "1e5", "0.00001", "é"])
tricky_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(value=tricky_json, sort_keys=st.booleans())
def test_json_text_writes_what_json_writes(value, sort_keys):
    assert json_text(value, sort_keys=sort_keys) == \
        json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def test_json_text_with_non_finite_floats_needs_finite_false_or_none():
    for value in ({"x": math.nan}, [math.inf, -math.inf], {"type": "null", "min": math.nan}):
        for finite in (False, None):
            assert json_text(value, finite=finite) == json.dumps(value, separators=(",", ":"))


@settings(max_examples=150, deadline=None)
@given(value=tricky_json | st.floats(), sort_keys=st.booleans())
def test_json_text_of_unknown_floats_writes_what_json_writes(value, sort_keys):
    assert json_text(value, sort_keys=sort_keys, finite=None) == \
        json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def first(box: list[int]) -> int:
    return box[0]


def test_memos_belong_to_their_owner_and_no_memo_keeps_nothing():
    from replayer import memo as memo_module

    box = [1]
    run_a, run_b = Memos(), Memos()
    assert run_a.of(first)(box) == 1 and run_a.of(first) is run_a.of(first)
    assert len(run_a.of(first)._entries) == 1
    assert run_b.of(first)._entries == {}  # another run's memo starts empty
    box[0] = 2  # what a memo keeps, NO_MEMO computes again
    assert run_a.of(first)(box) == 1 and NO_MEMO.of(first)(box) == 2
    assert NO_MEMO.of(first).many([box, [3]]) == [2, 3] and NO_MEMO.of(first)._entries == {}
    assert not hasattr(memo_module, "clear_all")  # nothing process-wide to clear


# bytes made mostly of the characters the scans look for, so matches and near misses are common
scan_bytes = st.binary(max_size=64) | st.lists(
    st.sampled_from([b"0", b"7", b"9", b"e", b"E", b".", b"0.0000", b"1.2345", b"a", b" ",
                     b"\x7f", b"\x1f", b"\xc3\xa9", b'"', b"\\u00e9", b"1" * 19]),
    max_size=30).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(raw=scan_bytes)
def test_maybe_different_finds_what_the_regex_finds(raw):
    assert maybe_different(raw) == (_MAYBE_DIFFERENT.search(raw) is not None)


@settings(max_examples=500, deadline=None)
@given(raw=scan_bytes | st.integers(min_value=10**17).map(lambda n: str(n).encode()))
def test_long_number_finds_what_the_regex_finds(raw):
    assert long_number(raw) == (_LONG_NUMBER.search(raw) is not None)


@settings(max_examples=400, deadline=None)
@given(value=tricky_json | st.floats() | st.integers(min_value=2**63) | st.sampled_from(
    [True, False, None, math.nan, -math.inf, 1e-7, 1e22, -0.0, "\u2028", "\x7f"]))
def test_scalar_text_and_splice_body_write_what_json_writes(value):
    assert scalar_text(value) == compact(value)
    assert scalar_text(value) == compact(value)  # a second time: from the kept texts
    body = {"model": value, "messages": [value], "x\u00e9": value}
    assert splice_body(body, {"messages": [compact(value)]}) == compact(body).encode()


@settings(max_examples=200, deadline=None)
@given(picks=st.lists(st.lists(st.integers(0, 30), max_size=25), max_size=8),
       size=st.integers(1, 40))
def test_identity_memo_many_equals_one_call_per_object(picks, size):
    """Batches of objects, repeated and new, past the memo's size (so entries are dropped and
    ids of dead objects may come back): `many` always equals calling the function."""
    memo: IdentityMemo[list[int], int] = IdentityMemo(lambda box: box[0] * 7, size=size)
    pool = [[i] for i in range(31)]
    for batch in picks:
        objs = [pool[i] for i in batch] + [[100 + i] for i in batch[:3]]  # new, short-lived
        assert memo.many(objs) == [o[0] * 7 for o in objs]
        assert memo.many(tuple(objs)) == memo.many(iter(objs)) == [memo(o) for o in objs]
        assert len(memo._entries) <= max(size, 1) and memo._entries.keys() == memo._values.keys()


def test_every_codec_encodes_the_same_request_with_and_without_a_run_memo():
    from replayer.wire import anthropic, gemini, openai_responses

    s = support_session("s1", 6)
    for wire in (openai_chat, anthropic, gemini, openai_responses):
        memos = Memos()
        for t in turns(s):
            prefix = t.prefix(s)
            expected = compact(wire.encode_request("m", prefix, s.tools, s.params))
            for _ in range(2):  # the second time from the memo
                assert compact(wire.encode_request("m", prefix, s.tools, s.params,
                                                   memos=memos)) == expected, wire.API

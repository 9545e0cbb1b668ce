"""The replay loop's request key, its parts memoised for the run, equals
`runtime.model_client.request_key` computed whole (tests/runtime/test_model_client.py holds that
one to the contract's single `json.dumps`)."""

from __future__ import annotations

import enum

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.session import ContentPart, Message, ToolCall, ToolResult
from recorder.turns import turns
from replayer import keys
from replayer.memo import Memos
from replayer.testing.synthetic_sessions import TOOLS, support_session
from runtime import model_client as llm


class Origin(enum.Enum):
    RECORDED = "recorded"
    COUNT = 3

text = (st.text(max_size=20) | st.text(st.characters(max_codepoint=0x7f), max_size=8)
        | st.sampled_from(["\x7f", "\x00\x1f", "1e5", "0.00001"]))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**64) | st.floats()
    | text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6)
# what a message's Any fields may hold beyond JSON (the key writes their JSON-mode dump)
python_value = st.recursive(
    json_value | st.text(st.characters(max_codepoint=0x7f), max_size=4).map(str.encode)
    | st.datetimes() | st.uuids() | st.sampled_from(list(Origin)),
    lambda inner: st.tuples(inner, inner) | st.dictionaries(st.integers(), inner, max_size=2)
    | st.lists(inner, max_size=2), max_leaves=4)
message = st.builds(
    Message, role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.lists(st.builds(ContentPart, text=text, data=python_value), max_size=2),
    tool_calls=st.lists(st.builds(ToolCall, id=text, name=text, arguments=python_value),
                        max_size=2),
    result=st.none() | st.builds(ToolResult, content=text, structured=python_value,
                                 latency_ms=st.none() | st.floats()),
    exchange_id=st.none() | text, usage=st.dictionaries(text, st.integers(), max_size=2))


# text and JSON values cover what JSON writers disagree on (any unicode, DEL and control
# characters, floats of every size, NaN and infinities, integers beyond 64 bits)
@settings(max_examples=300, deadline=None)
@given(model=text, messages=st.lists(message, max_size=4),
       params=st.dictionaries(text, python_value, max_size=3), sample=st.integers(0, 5))
def test_memoised_key_equals_the_whole_key(model, messages, params, sample):
    expected = llm.request_key(model, messages, TOOLS, params, sample)
    assert keys.request_key(model, messages, TOOLS, params, sample) == expected
    memos = Memos()
    for _ in range(2):  # the second time every fragment comes from the run's memo
        assert keys.request_key(model, messages, TOOLS, params, sample, memos=memos) == expected


def test_shared_prefixes_key_like_the_contract():
    s = support_session("s1", 6)
    memos = Memos()
    for t in turns(s):
        prefix = t.prefix(s)
        expected = llm.request_key("m", prefix, s.tools, s.params, 1)
        assert keys.request_key("m", prefix, s.tools, s.params, 1) == expected
        assert keys.request_key("m", prefix, s.tools, s.params, 1, memos=memos) == expected


def test_values_json_writers_disagree_on_key_like_the_whole_key():
    tricky = [Message(role="tool", result=ToolResult(latency_ms=v))
              for v in (float("nan"), float("inf"), -float("inf"), 1e-05, 1e16, 12.5)]
    tricky += [Message(role="assistant", tool_calls=[ToolCall(id="c", name="f", arguments=a)])
               for a in ({"x": 1e-7}, {"x": 2**70}, {"x": "\x7f"}, {"x": "é"}, {"1e5": 0.00001},
                         {"x": float("nan")}, {"x": [1.0, -0.0, 1e300]})]
    for m in tricky:
        assert keys.request_key("m", [m]) == llm.request_key("m", [m]), m


def test_parameters_json_writers_disagree_on_key_like_the_whole_key():
    m = Message(role="user", content=[ContentPart(text="hi")])
    for params in ({"temperature": float("nan")}, {"metadata": {"x": [float("inf")]}},
                   {"temperature": 1e-05}, {"user": "é"}, {"stop": ["\x7f"]},
                   {"seed": 2**70}, {"metadata": {"null": None}}, {"temperature": 0.2}):
        for model, sample in (("gpt-5", 0), ("modèle", 3)):
            assert keys.request_key(model, [m], TOOLS, params, sample) == \
                llm.request_key(model, [m], TOOLS, params, sample), params

"""The replay loop's fast request key equals the contract's `recorder.llm.request_key`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder import llm
from recorder.session import ContentPart, Message, ToolCall
from recorder.turns import turns
from replayer import keys
from replayer.testing.sessions import TOOLS, support_session

text = st.text(max_size=20)
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(
    allow_nan=False) | text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    text, inner, max_size=3), max_leaves=6)
message = st.builds(
    Message, role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.lists(st.builds(ContentPart, text=text), max_size=2),
    tool_calls=st.lists(st.builds(ToolCall, id=text, name=text, arguments=json_value),
                        max_size=2),
    exchange_id=st.none() | text, usage=st.dictionaries(text, st.integers(), max_size=2))


@settings(max_examples=60, deadline=None)
@given(model=text, messages=st.lists(message, max_size=4),
       params=st.dictionaries(text, json_value, max_size=3), sample=st.integers(0, 5))
def test_fast_key_equals_the_contract_key(model, messages, params, sample):
    expected = llm.request_key(model, messages, TOOLS, params, sample)
    assert keys.request_key(model, messages, TOOLS, params, sample) == expected
    assert keys.request_key(model, messages, TOOLS, params, sample) == expected  # memoised


def test_shared_prefixes_key_like_the_contract():
    s = support_session("s1", 6)
    for t in turns(s):
        prefix = t.prefix(s)
        assert keys.request_key("m", prefix, s.tools, s.params, 1) == \
            llm.request_key("m", prefix, s.tools, s.params, 1)

"""`message_key` (with its fast path for one text part) against the plain definition."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.message_key import message_key
from recorder.protocols.light import LCall, LMessage, LPart, LResult
from recorder.protocols.openai_chat import content_parts


def _reference(m: LMessage) -> tuple[object, ...]:
    def canon(v: Any) -> str:
        return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=str)

    texts = [p.text for p in m.content if p.type in ("text", "refusal")]
    other = tuple(canon(p.data) for p in m.content
                  if p.type not in ("text", "refusal", "thinking", "redacted_thinking"))
    text = "".join(texts)
    calls = tuple((c.id, c.name, canon(c.arguments)) for c in m.tool_calls)
    result = m.result.content if m.result is not None else None
    return (m.role, text, other, calls, m.tool_call_id, result if result != text else None)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=3), kids, max_size=3), max_leaves=8)
_PART = st.builds(LPart, st.sampled_from(["text", "refusal", "thinking", "redacted_thinking",
                                          "json", "image"]), st.text(max_size=5), _JSON)
_MESSAGE = st.builds(
    LMessage, st.sampled_from(["system", "user", "assistant", "tool"]),
    st.lists(_PART, max_size=3),
    st.lists(st.builds(LCall, st.text(max_size=3), st.text(max_size=3), _JSON), max_size=2),
    st.none() | st.text(max_size=3),
    result=st.none() | st.builds(LResult, st.text(max_size=5)))


@settings(max_examples=300, deadline=None)
@given(_MESSAGE)
def test_message_key_is_the_plain_definition(m: LMessage) -> None:
    assert message_key(m) == _reference(m)


@settings(max_examples=100, deadline=None)
@given(st.none() | st.text(max_size=5) | st.lists(st.text(max_size=3) | st.dictionaries(
    st.sampled_from(["type", "text", "refusal", "image_url"]), st.text(max_size=3) | st.none(),
    max_size=3), max_size=3))
def test_content_parts_of_plain_strings(content: Any) -> None:
    parts = content_parts(content)
    if isinstance(content, str):
        assert parts == ([LPart(text=content)] if content else [])
    if content is None:
        assert parts == []

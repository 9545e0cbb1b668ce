"""`runtime.model_client.request_key`: one key for a model request, the same bytes whether it is
computed whole or from memoised parts, and stable for the response caches already on disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from recorder.session import ContentPart, Message, ToolCall, ToolDef, ToolResult
from replayer import keys
from replayer.memo import Memos
from replayer.testing import render_anthropic, render_gemini, render_openai
from replayer.testing.synthetic_sessions import support_session
from replayer.wire import CODECS
from runtime.model_client import request_key


def spec_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
             params: Mapping[str, Any] | None = None, sample: int = 0) -> str:
    """The key as the contract states it (and as every cache on disk was written): the hash
    of the whole request's canonical JSON, in one `json.dumps`."""
    doc = {
        "model": model,
        "messages": [m.model_dump(mode="json", exclude={"exchange_id", "usage"})
                     for m in messages],
        "tools": [t.model_dump(mode="json") for t in tools],
        "params": dict(params or {}),
        "sample": sample,
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def every_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
              params: Mapping[str, Any] | None = None, sample: int = 0) -> set[str]:
    """The key each way the product computes it: whole, by the replay loop afresh, and by the
    replay loop from a run's memo (twice: the second time every part is a memo hit)."""
    memos = Memos()
    return {request_key(model, messages, tools, params, sample),
            keys.request_key(model, messages, tools, params, sample),
            keys.request_key(model, messages, tools, params, sample, memos=memos),
            keys.request_key(model, messages, tools, params, sample, memos=memos)}


SESSION = support_session("s1", 4)


def test_the_key_of_a_fixed_request_is_the_one_existing_caches_hold() -> None:
    # computed by the implementation every response cache on disk was written with (241a35b)
    s = support_session("golden", 3)
    assert every_key("gpt-5", s.messages, s.tools, s.params, 2) == {
        "a03597dffc7695498c5b4c01176e09ce503cd96e4c1040a9435443a97bd5ff9d"}
    odd = [Message(role="tool", tool_call_id="c", name="f", exchange_id="ex", usage={"in": 3},
                   result=ToolResult(content="x", latency_ms=float("nan"),
                                     structured={"b": b"\x01", 3: (1, 2)}))]
    assert every_key("modèle", odd, (), {"temperature": float("inf"), "stop": ("a",)}, 0) == {
        "53d5efbd78dd183ef82a283de66e4afac1865cc7a216fe7fc412c1e31d3e0a41"}


@pytest.mark.parametrize("api", sorted(CODECS))
def test_every_wire_formats_request_keys_as_the_contract_states(api: str) -> None:
    # what a replay server or a recording reads out of each provider's request body
    codec = CODECS[api]
    body = codec.encode_request("m", SESSION.messages, SESSION.tools,
                                {**SESSION.params, "stop": ["END"], "top_p": 0.9})
    messages, tools, params = codec.decode_request(body)
    assert len(messages) > 4 and tools and params
    for n in range(1, len(messages) + 1):
        for sample in (0, 3):
            assert every_key("m", messages[:n], tools, params, sample) == \
                {spec_key("m", messages[:n], tools, params, sample)}


USAGE = {"input_tokens": 5, "output_tokens": 2}
RENDER = {
    "openai-chat": lambda m: render_openai.chat_json("r1", "m", 1, m, USAGE),
    "openai-responses": lambda m: render_openai.responses_json("r1", "m", 1, m,
                                                               USAGE, {}),
    "anthropic": lambda m: render_anthropic.messages_json("r1", "m", m,
                                                                    USAGE),
    "gemini": lambda m: render_gemini.generate_json("r1", "m", m, USAGE),
}


@pytest.mark.parametrize("api", sorted(CODECS))
def test_every_wire_formats_replies_key_as_the_contract_states(api: str) -> None:
    # a decoded reply carries usage (left out of the key) and is generated (kept in it)
    reply = Message(role="assistant", content=[ContentPart(text="let me look")],
                    tool_calls=[ToolCall(id="call_9", name="lookup_order",
                                         arguments={"order_id": "7", "n": [1.5, None]})])
    decoded = CODECS[api].decode_response(RENDER[api](reply))
    assert decoded.usage and decoded.tool_calls
    conversation = [*SESSION.messages[:2], decoded]
    assert every_key("m", conversation, SESSION.tools) == {spec_key("m", conversation,
                                                                    SESSION.tools)}


def test_exchange_id_and_usage_are_left_out_and_everything_else_counts() -> None:
    m = SESSION.messages[3]  # the first tool message
    base = request_key("m", [m], SESSION.tools, SESSION.params, 0)
    same = m.model_copy(update={"exchange_id": "ex-9", "usage": {"input": 7}})
    assert every_key("m", [same], SESSION.tools, SESSION.params, 0) == {base}
    different = [
        request_key("other", [m], SESSION.tools, SESSION.params, 0),
        request_key("m", [m.model_copy(update={"origin": "generated"})], SESSION.tools,
                    SESSION.params, 0),
        request_key("m", [m.model_copy(update={"name": "other"})], SESSION.tools,
                    SESSION.params, 0),
        request_key("m", [m], SESSION.tools[:1], SESSION.params, 0),
        request_key("m", [m], SESSION.tools, {**SESSION.params, "temperature": 0.3}, 0),
        request_key("m", [m], SESSION.tools, SESSION.params, 1),
        request_key("m", [m, m], SESSION.tools, SESSION.params, 0),
    ]
    assert len({base, *different}) == len(different) + 1


def test_values_json_cannot_hold_key_as_the_contract_states() -> None:
    # bytes, tuples, integer keys, non-finite floats, sets and objects in params (default=str)
    odd = Message(role="assistant", tool_calls=[ToolCall(
        id="c", name="f", arguments={"raw": b"\x00\x7f", 2: (1, float("nan"))})],
        content=[ContentPart(type="json", data={"when": float("-inf"), "big": 2**80})])
    tool = ToolResult(content="r", latency_ms=float("inf"), structured=[b"x", {"k": 1e-7}])
    result = Message(role="tool", tool_call_id="c", result=tool)
    for params in ({"seed": 2**70, "stop": ("a", "b")}, {"tags": {1, 2}},
                   {"when": object.__new__(_Stamp)}, {"temperature": float("nan")}):
        assert every_key("m", [odd, result], (), params, 1) == \
            {spec_key("m", [odd, result], (), params, 1)}


class _Stamp:
    def __str__(self) -> str:
        return "stamp"

"""`runtime.model_client.request_key`, computed faster for the replay loop.

The key hashes the canonical JSON of the whole request, and a replay asks for it at every step
with a prefix that mostly repeats (turn t+1 of a session shares turn t's messages). This
produces byte-for-byte the same canonical text — so the same key — while serialising each
message object once and reusing its JSON fragment (a test holds it equal to the original),
written by orjson whenever its text is the same as the standard library's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from recorder.session import Message, ToolDef
from replayer.memo import NO_MEMO, Memos
from replayer.wire.codec_helpers import json_text, orjson_text

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
"""The encoder the contract's `json.dumps(..., sort_keys=True, separators=(",", ":"),
default=str)` builds on every call, built once (the same text)."""


def _canonical(obj: Any) -> str:
    return _CANONICAL.encode(obj)


_EXCLUDED = frozenset({"exchange_id", "usage"})
"""Message fields the contract's key leaves out."""


def _dump(obj: Message | ToolDef) -> str:
    if isinstance(obj, Message):
        # ToolResult.latency_ms is the one typed float a message holds; a NaN there is NaN in
        # the JSON-mode dump (an Any field's becomes None), which orjson would write as null
        latency = obj.result.latency_ms if obj.result is not None else None
        if latency is None or math.isfinite(latency):
            # the python-mode dump: for what orjson accepts (JSON types, tuples, enums, UUIDs)
            # it writes what json writes for the JSON-mode dump
            fields = obj.model_dump(exclude=set(_EXCLUDED))
            if (fast := orjson_text(fields, sort_keys=True)) is not None:
                return fast
        return _canonical(obj.model_dump(mode="json", exclude=set(_EXCLUDED)))
    return json_text(obj.model_dump(mode="json"), sort_keys=True, default=str)


@functools.lru_cache(maxsize=256)
def _model_text(model: str) -> str:
    return _canonical(model)


_JSON_TYPES = (str, int, float, bool, type(None))


def _json_typed(value: Any) -> bool:
    """Only JSON's own types (exactly: no subclasses, enums or tuples) all the way down."""
    if type(value) in _JSON_TYPES:
        return True
    if type(value) is dict:
        return all(type(k) is str and _json_typed(v) for k, v in value.items())
    return type(value) is list and all(_json_typed(v) for v in value)


def _params_text(params: Mapping[str, Any]) -> str:
    # parameters are small and plain JSON from a recording or the command line; anything else,
    # or a null (orjson writes NaN as null, json as NaN), goes the standard way
    plain_params = dict(params)
    if _json_typed(plain_params):
        fast = orjson_text(plain_params, sort_keys=True)
        if fast is not None and "null" not in fast:
            return fast
    return _canonical(plain_params)


def request_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, sample: int = 0, *,
                memos: Memos = NO_MEMO) -> str:
    """Equal to `runtime.model_client.request_key(model, messages, tools, params, sample)`; `memos`
    (the caller's) keeps each message's and tool's JSON fragment."""
    fragment = memos.of(_dump)
    blob = "".join((
        '{"messages":[', ",".join(fragment.many(messages)),
        '],"model":', _model_text(model),
        ',"params":', _params_text(params or {}),
        # an int's JSON is its repr (bool, its subclass, is not: true/false)
        ',"sample":', str(sample) if type(sample) is int else _canonical(sample),
        ',"tools":[', ",".join(fragment.many(tools)), "]}",
    ))
    return hashlib.sha256(blob.encode()).hexdigest()

"""`recorder.llm.request_key`, computed faster for the replay loop.

The key hashes the canonical JSON of the whole request, and a replay asks for it at every step
with a prefix that mostly repeats (turn t+1 of a session shares turn t's messages). This
produces byte-for-byte the same canonical text — so the same key — while serialising each
message object once and reusing its JSON fragment (a test holds it equal to the original),
written by orjson whenever its text is the same as the standard library's.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from recorder.session import Message, ToolDef
from replayer.memo import IdentityMemo


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


_MAYBE_DIFFERENT = re.compile(rb"[^\x20-\x7e]|\d[eE]|0\.0000")
"""What orjson may write differently from `json.dumps(ensure_ascii=True)`: anything outside
printable ASCII (json escapes it as \\uXXXX, orjson writes UTF-8 or DEL as is), and floats in
exponent form or below 1e-4 (json writes `1e-05` where orjson writes `0.00001`). Text that
merely looks like them (`3e`, `0.00001` in a string) only sends the message the slow way."""


def _canonical_json(obj: Any, *, finite: bool = True) -> str:
    """`_canonical(obj)` for the JSON-mode dump of a model (JSON types only): by orjson when
    its text is provably the same, else by `json` (a property test holds them equal).

    `finite=False` says a float field may be NaN or infinite, which pydantic keeps in a typed
    float field and which json writes as `NaN` where orjson writes `null`."""
    if not finite:
        return _canonical(obj)
    try:
        fast = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits, non-string keys: json decides
        return _canonical(obj)
    if _MAYBE_DIFFERENT.search(fast) is not None:
        return _canonical(obj)
    return fast.decode("ascii")


def _dump(obj: Message | ToolDef) -> str:
    if isinstance(obj, Message):
        # ToolResult.latency_ms is the one typed float a message holds (Any fields dump a
        # non-finite float as null either way)
        latency = obj.result.latency_ms if obj.result is not None else None
        return _canonical_json(obj.model_dump(mode="json", exclude={"exchange_id", "usage"}),
                               finite=latency is None or math.isfinite(latency))
    return _canonical_json(obj.model_dump(mode="json"))


_fragment: IdentityMemo[Message | ToolDef, str] = IdentityMemo(_dump)


def request_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, sample: int = 0) -> str:
    """Equal to `recorder.llm.request_key(model, messages, tools, params, sample)`."""
    blob = "".join((
        '{"messages":[', ",".join(_fragment(m) for m in messages),
        '],"model":', _canonical(model),
        ',"params":', _canonical(dict(params or {})),
        ',"sample":', _canonical(sample),
        ',"tools":[', ",".join(_fragment(t) for t in tools), "]}",
    ))
    return hashlib.sha256(blob.encode()).hexdigest()

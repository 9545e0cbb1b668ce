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
from collections.abc import Mapping, Sequence
from typing import Any

from recorder.session import Message, ToolDef
from replayer.memo import IdentityMemo
from replayer.wire.common import json_text


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _dump(obj: Message | ToolDef) -> str:
    if isinstance(obj, Message):
        # ToolResult.latency_ms is the one typed float a message holds (Any fields dump a
        # non-finite float as null either way)
        latency = obj.result.latency_ms if obj.result is not None else None
        return json_text(obj.model_dump(mode="json", exclude={"exchange_id", "usage"}),
                         sort_keys=True, finite=latency is None or math.isfinite(latency),
                         default=str)
    return json_text(obj.model_dump(mode="json"), sort_keys=True, default=str)


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

"""`recorder.llm.request_key`, computed faster for the replay loop.

The key hashes the canonical JSON of the whole request, and a replay asks for it at every step
with a prefix that mostly repeats (turn t+1 of a session shares turn t's messages). This
produces byte-for-byte the same canonical text — so the same key — while serialising each
message object once and reusing its JSON fragment (a test holds it equal to the original).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from recorder.session import Message, ToolDef
from replayer.memo import IdentityMemo


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _dump(obj: Message | ToolDef) -> str:
    if isinstance(obj, Message):
        return _canonical(obj.model_dump(mode="json", exclude={"exchange_id", "usage"}))
    return _canonical(obj.model_dump(mode="json"))


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

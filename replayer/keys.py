"""`recorder.llm.request_key`, computed faster for the replay loop.

The key hashes the canonical JSON of the whole request, and a replay asks for it at every step
with a prefix that mostly repeats (turn t+1 of a session shares turn t's messages). This
produces byte-for-byte the same canonical text — so the same key — while serialising each
message object once and reusing its JSON fragment (a test holds it equal to the original).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from recorder.session import Message, ToolDef

_MAX = 50_000
"""Fragments kept (least recently used are dropped)."""

_fragments: OrderedDict[int, tuple[BaseModel, str]] = OrderedDict()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _fragment(obj: Message | ToolDef) -> str:
    # keyed by identity, holding the object so the id cannot be reused while cached
    hit = _fragments.get(id(obj))
    if hit is not None and hit[0] is obj:
        _fragments.move_to_end(id(obj))
        return hit[1]
    dumped = (obj.model_dump(mode="json", exclude={"exchange_id", "usage"})
              if isinstance(obj, Message) else obj.model_dump(mode="json"))
    text = _canonical(dumped)
    _fragments[id(obj)] = (obj, text)
    if len(_fragments) > _MAX:
        _fragments.popitem(last=False)
    return text


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

"""The request key of the replay loop: `runtime.model_client.request_key`, each message's and
tool's part memoised for the run.

A replay asks for the key at every step with a prefix that mostly repeats (turn t+1 of a session
re-sends turn t's messages), so the loop keeps each message's and tool's canonical JSON in the
run's `Memos` and hashes the request from those (`request_key_from_json`): the same text, so the
same key, as the readable `request_key`. The memo matters end to end: computing the key whole
at every step cost a replay 15% more CPU a turn in its execution phase (0.656 against 0.569
ms; 10% for the whole command). The orjson canonicalisation this module once held is gone:
with the memo, json's text cost no more against a 200 ms model and 8% more CPU a turn on the
response cache's hit path, under the 10% a fast twin must earn (docs/performance.md, "Removed
fast paths").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.session import Message, ToolDef
from replayer.memo import NO_MEMO, Memos
from runtime.model_client import message_json, request_key_from_json, tool_json


def request_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, sample: int = 0, *,
                memos: Memos = NO_MEMO) -> str:
    """`runtime.model_client.request_key(model, messages, tools, params, sample)`, with each
    message's and tool's JSON kept in `memos` (the run's; `NO_MEMO` computes them afresh)."""
    return request_key_from_json(model, memos.of(message_json).many(messages),
                                 memos.of(tool_json).many(tools), params, sample)

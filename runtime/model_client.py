"""The model-client protocol shared by the replayer, the stubs' tool simulator and the grader's
LLM judge. Implementations live in `replayer.clients`; the CLI injects them, so stubs and grader
never import the replayer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from recorder.session import Message, ToolDef


@runtime_checkable
class ModelClient(Protocol):
    """Produces the next assistant message for a conversation.

    >>> class Echo:
    ...     async def complete(self, messages, *, tools=(), params=None):
    ...         return Message(role="assistant", content=[ContentPart(text="ok")])
    ...     async def close(self): ...
    """

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDef] = (),
        params: Mapping[str, Any] | None = None,
    ) -> Message: ...

    async def close(self) -> None: ...


KEY_EXCLUDED = frozenset({"exchange_id", "usage"})
"""Message fields a request key leaves out: which exchange carried a message and what it cost
say nothing about what was asked, and two identical requests must share one cached answer."""

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
"""Canonical JSON: keys sorted, no spaces, anything JSON cannot hold written as `str(x)`."""


def message_json(message: Message) -> str:
    """A message's part of the request key: the canonical JSON of its JSON-mode dump, every
    field but `KEY_EXCLUDED`."""
    return _CANONICAL.encode(message.model_dump(mode="json", exclude=set(KEY_EXCLUDED)))


def tool_json(tool: ToolDef) -> str:
    """A tool definition's part of the request key: the canonical JSON of its JSON-mode dump."""
    return _CANONICAL.encode(tool.model_dump(mode="json"))


def request_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, sample: int = 0) -> str:
    """Canonical hash of a model request: the cache key for identical, free re-runs.

    It is the SHA-256 of the canonical JSON (`_CANONICAL`) of the request as a document:

        {"messages": [message_json(m), ...], "model": model, "params": params,
         "sample": sample, "tools": [tool_json(t), ...]}

    Keep it stable: a changed key misses every answer an existing response cache holds (the
    tests pin the key of a fixed request).
    """
    return request_key_from_json(model, [message_json(m) for m in messages],
                                 [tool_json(t) for t in tools], params, sample)


def request_key_from_json(model: str, messages_json: Sequence[str], tools_json: Sequence[str],
                          params: Mapping[str, Any] | None = None, sample: int = 0) -> str:
    """`request_key` from each message's `message_json` and each tool's `tool_json`, for a
    caller that keeps them across requests: a replay re-sends its whole prefix at every step
    (`replayer.keys.request_key` memoises them per run).

    The text is the one `json.dumps(document, sort_keys=True, ...)` writes: a list's JSON is
    its items' JSON joined by commas, and the document's keys are written in sorted order."""
    blob = "".join((
        '{"messages":[', ",".join(messages_json),
        '],"model":', _CANONICAL.encode(model),
        ',"params":', _CANONICAL.encode(dict(params or {})),
        ',"sample":', _CANONICAL.encode(sample),
        ',"tools":[', ",".join(tools_json), "]}",
    ))
    return hashlib.sha256(blob.encode()).hexdigest()


_THINKING = re.compile(r"<think>.*?</think>", re.S | re.I)


def answer_text(text: str) -> str:
    """A model's answer without the `<think>...</think>` blocks some open models (Qwen3,
    DeepSeek-R1 and their llama.cpp/Ollama builds) write inline before it, stripped."""
    return _THINKING.sub("", text).strip()

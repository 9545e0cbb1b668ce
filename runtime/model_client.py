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


def request_key(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, sample: int = 0) -> str:
    """Canonical hash of a model request: the cache key for identical, free re-runs."""
    doc = {
        "model": model,
        "messages": [m.model_dump(mode="json", exclude={"exchange_id", "usage"}) for m in messages],
        "tools": [t.model_dump(mode="json") for t in tools],
        "params": dict(params or {}),
        "sample": sample,
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


_THINKING = re.compile(r"<think>.*?</think>", re.S | re.I)


def answer_text(text: str) -> str:
    """A model's answer without the `<think>...</think>` blocks some open models (Qwen3,
    DeepSeek-R1 and their llama.cpp/Ollama builds) write inline before it, stripped."""
    return _THINKING.sub("", text).strip()

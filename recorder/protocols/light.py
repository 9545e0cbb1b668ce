"""Light stand-ins for the session models, used while parsing: a declared fast twin.

A parser sees every request re-send the whole conversation, but threading keeps only the new
messages; building validated pydantic models for all of them dominated the cost of deriving
sessions. These slotted dataclasses have the same constructor arguments, fields and `text`
as `recorder.session`'s models (a test holds them in step) and become real, validated ones
only for the messages that end up in a session: `to_dict()` for a whole session validated in
one go (`recorder.derive_build`), `to_model()` one by one.

The reference and the fast version are chosen here, once, at import (aiohttp's pattern,
`AIOHTTP_NO_EXTENSIONS`): with `DEPLOYSIM_VALIDATED_PARSING=1` in the environment the same
classes are pydantic dataclasses, every field validated as it is built, as the session models
do; without it, plain slotted dataclasses. The tests derive the same recordings both ways and
assert equal sessions. The fast version is the default because it matters end to end: with
the validated stand-ins, deriving took 18% (in memory), 34% (streamed) and 44% (`deploysim
derive`) more CPU, and 32% fewer exchanges were derived per CPU-second (`bench/ab.py --only
derive,sessions --repeat 3`, 6 Dec 2026; docs/performance.md, "Removed fast paths").
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import field
from typing import TYPE_CHECKING, Any

from recorder.session import ContentPart, Message, ToolCall, ToolResult

VALIDATED = os.environ.get("DEPLOYSIM_VALIDATED_PARSING", "") not in ("", "0")
"""Whether the stand-ins validate their fields as they are built (the readable reference)."""

if TYPE_CHECKING or not VALIDATED:
    from dataclasses import dataclass
else:
    from pydantic.dataclasses import dataclass


@dataclass(slots=True)
class LPart:
    """A `ContentPart` while parsing."""

    type: str = "text"
    text: str = ""
    data: Any = None

    def to_model(self) -> ContentPart:
        return ContentPart.model_validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text, "data": self.data}


@dataclass(slots=True)
class LCall:
    """A `ToolCall` while parsing."""

    id: str
    name: str
    arguments: Any = None
    arguments_raw: str | None = None
    server: str | None = None

    def to_model(self) -> ToolCall:
        return ToolCall.model_validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments,
                "arguments_raw": self.arguments_raw, "server": self.server}


@dataclass(slots=True)
class LResult:
    """A `ToolResult` while parsing."""

    content: str = ""
    structured: Any = None
    is_error: bool = False
    latency_ms: float | None = None
    exchange_id: str | None = None

    def to_model(self) -> ToolResult:
        return ToolResult.model_validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"content": self.content, "structured": self.structured,
                "is_error": self.is_error, "latency_ms": self.latency_ms,
                "exchange_id": self.exchange_id}


@dataclass(slots=True)
class LMessage:
    """A `Message` while parsing."""

    role: str
    content: list[LPart] = field(default_factory=list)
    tool_calls: list[LCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    result: LResult | None = None
    exchange_id: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The visible text (thinking parts excluded), as `Message.text`."""
        return "".join(p.text for p in self.content if p.type in ("text", "refusal"))

    def model_copy(self, *, update: dict[str, Any]) -> LMessage:
        """A copy with some fields replaced (the pydantic spelling, for symmetry)."""
        return dataclasses.replace(self, **update)

    def to_model(self) -> Message:
        """The validated session message."""
        return Message.model_validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The plain form, validated in one go when a whole session is built (much faster
        than building each nested model from Python)."""
        return {
            "role": self.role, "content": [p.to_dict() for p in self.content],
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "tool_call_id": self.tool_call_id, "name": self.name,
            "result": self.result.to_dict() if self.result is not None else None,
            "exchange_id": self.exchange_id, "finish_reason": self.finish_reason,
            "usage": self.usage}

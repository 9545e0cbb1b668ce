"""What a scripted policy sees and says: provider-neutral requests and replies.

A policy is any callable `(ScriptedRequest) -> ScriptedReply` (or an awaitable of one). The
fake model server decodes each request from its wire format into a `ScriptedRequest`, asks the
policy, and encodes the `ScriptedReply` back in the same wire format — so one policy answers
OpenAI Chat, OpenAI Responses and Anthropic clients alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from recorder.session import Message, ToolDef

Api = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
ErrorKind = Literal["rate_limit", "server", "overloaded", "auth", "context_length",
                    "bad_request"]

SIMULATION = "deploysim scripted simulation"
"""Said in every response (headers, fingerprints) so nobody mistakes it for a real model."""


@dataclass(frozen=True)
class ScriptedRequest:
    """One request the fake server received, provider-neutral.

    `messages`, `tools` and `params` are decoded from the body on first use (a policy that
    never looks at them costs nothing, which keeps the server fast in benchmarks).
    """

    api: Api
    """Which wire format it arrived in."""
    model: str
    """The model the client asked for (e.g. `sim-candidate`)."""
    stream: bool
    """Whether the client asked for a stream."""
    index: int
    """Arrival order on this server (0-based)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Request headers (lower-cased names)."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """The raw JSON body."""

    @cached_property
    def _decoded(self) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
        from replayer.wire import CODECS

        decoded: tuple[list[Message], list[ToolDef], dict[str, Any]] = \
            CODECS[self.api].decode_request(self.body)
        return decoded

    @property
    def messages(self) -> list[Message]:
        """The conversation sent, decoded into neutral messages."""
        return self._decoded[0]

    @property
    def tools(self) -> list[ToolDef]:
        """Tool definitions offered."""
        return self._decoded[1]

    @property
    def params(self) -> dict[str, Any]:
        """Request parameters (temperature, max_tokens, ...), neutral spelling."""
        return self._decoded[2]

    @property
    def last(self) -> Message | None:
        """The last message of the conversation."""
        return self.messages[-1] if self.messages else None

    @property
    def last_user_text(self) -> str:
        """Text of the last user message ("" if none)."""
        for m in reversed(self.messages):
            if m.role == "user":
                return m.text
        return ""

    def tool(self, name: str) -> ToolDef | None:
        return next((t for t in self.tools if t.name == name), None)


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call the scripted model makes."""

    name: str
    arguments: Any = None
    """JSON arguments (a dict, usually)."""
    raw_arguments: str | None = None
    """Send exactly this argument text instead (e.g. invalid JSON to test error handling)."""


@dataclass(frozen=True)
class ScriptedError:
    """An error the server returns instead of a reply."""

    kind: ErrorKind = "server"
    """rate_limit (429), server (500), overloaded (529/503), auth (401), context_length (400),
    bad_request (400)."""
    status: int | None = None
    """Override the HTTP status."""
    message: str | None = None
    """Override the error message."""
    retry_after: float | None = None
    """Seconds to put in a `Retry-After` header."""


@dataclass(frozen=True)
class ScriptedReply:
    """What the scripted model answers.

    >>> ScriptedReply(text="done")
    >>> ScriptedReply(calls=[ScriptedCall("search", {"q": "x"})])
    >>> ScriptedReply(error=ScriptedError("rate_limit", retry_after=0.2))
    """

    text: str = ""
    calls: list[ScriptedCall] = field(default_factory=list)
    thinking: str = ""
    """Reasoning text (Anthropic thinking block; ignored by the OpenAI formats)."""
    finish_reason: Literal["stop", "length"] | None = None
    """Force a finish reason; otherwise `tool_calls` when calling tools, else `stop`."""
    usage: dict[str, int] | None = None
    """Override the token counts ({"input_tokens": .., "output_tokens": ..})."""
    error: ScriptedError | None = None
    """Answer with an HTTP error instead."""
    malformed: bool = False
    """Answer 200 with a body that is not valid JSON (or a broken SSE event)."""
    latency_s: float = 0.0
    """Extra delay before answering, on top of the server's latency."""
    disconnect: bool = False
    """Close the connection without answering (a reset)."""

    @classmethod
    def call(cls, name: str, arguments: Any = None, *, text: str = "") -> ScriptedReply:
        return cls(text=text, calls=[ScriptedCall(name, arguments)])


Policy = Callable[[ScriptedRequest], "ScriptedReply | Awaitable[ScriptedReply]"]
"""A scripted model: request in, reply out (sync or async)."""

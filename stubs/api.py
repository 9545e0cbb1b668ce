"""The contract between stubs and their users (the replayer and the replay proxy).

A user asks `ToolAnswerer.answer(ToolQuery)` and gets a `StubAnswer`: the result to hand to the
agent or model, how it was produced (provenance), and what the transport should do (delay,
HTTP status, JSON-RPC error).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from recorder.recorded_tool_call import HttpReply, ToolKind
from recorder.session import ToolResult


@dataclass(frozen=True)
class ToolQuery:
    """A tool call to answer."""

    kind: ToolKind
    """function | mcp | http: which index the call is looked up in."""
    name: str
    """Tool name (http: `METHOD /path`)."""
    arguments: Any
    """JSON arguments (http: {"query": {...}, "body": ...}); a str when not valid JSON."""
    server: str | None = None
    """Route / MCP server name; None for function tools."""
    session_id: str | None = None
    """The recorded session being replayed: its own recordings are preferred."""
    call_index: int = 0
    """Position of this call in the replayed trajectory; with the seed, it keys every random
    choice (perturbations, synthetic values), so answers never depend on timing."""
    trajectory_id: str | None = None
    """The replayed trajectory (session/turn/sample) the call belongs to, for determinism keys."""


@dataclass(frozen=True)
class StubAnswer:
    """How a stub answers one tool call."""

    result: ToolResult
    """What the model/agent sees (content, structured, is_error) with its provenance."""
    provenance: str
    """exact | session | nearest | synthetic | simulated | live | miss, plus `+perturbed:NAME`."""
    delay_s: float = 0.0
    """Latency to apply before answering (latency/timeout perturbations)."""
    timeout: bool = False
    """True when the call must time out (no answer; the transport closes or errors)."""
    http: HttpReply | None = None
    """For http tools: the reply to send (status, headers, body)."""
    mcp_result: dict[str, Any] | None = None
    """For mcp tools: the JSON-RPC result object to send."""
    mcp_error: dict[str, Any] | None = None
    """For mcp tools: a JSON-RPC error object to send instead of a result."""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    """On a miss or fallback: the closest recorded calls and a field-level diff."""


class ToolAnswerer(ABC):
    """Anything that answers tool calls (the stub engine; the live tools in forward mode).

    Subclass it and implement `answer`; every other method its users call is declared here
    with a default that does nothing, so an answerer with nothing to forget, count, describe
    or close leaves them alone, and its users call them without asking whether they exist.

    >>> class Always(ToolAnswerer):
    ...     async def answer(self, query):
    ...         return StubAnswer(result=ToolResult(content="ok"), provenance="synthetic")
    """

    @abstractmethod
    async def answer(self, query: ToolQuery) -> StubAnswer:
        """The answer to one call; never raises (a failure is a tool error in the answer)."""

    def forget(self, trajectory_id: str) -> None:  # noqa: B027 (a no-op default on purpose)
        """A trajectory is done with (written, or to be replayed from its start): drop what
        the answerer keeps for it. Default: nothing is kept."""

    def stats(self) -> dict[str, int]:
        """How calls were answered, for the run's report (`provenance -> count`, ...).
        Default: nothing counted."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What a run manifest records about the answerer to reproduce its answers.
        Default: nothing."""
        return {}

    async def close(self) -> None:  # noqa: B027 (a no-op default on purpose)
        """Release connections and files the answerer opened itself (its owner calls it
        once done with it: serve, for its live tools). Default: none."""

"""The perturbation registry: named, seeded operators that transform a tool response.

An operator is a function `(ctx, reply, params) -> Effect | None` registered with its default
parameters; returning None means "does not apply here" (drop_field on plain text, stale with no
older recording). Built-ins register the same way a user's operator does:

    >>> from stubs.perturb import Effect, operator
    >>> @operator("shout", params={"suffix": "!"}, stage="content")
    ... def shout(ctx, reply, params):
    ...     return Effect(reply.with_(content=reply.content.upper() + params["suffix"]))

Plugins enter through the `deploysim.perturbations` entry-point group: the entry point names a
module or an `Operator`; importing it registers its operators.

Stages decide how operators compose within one call: `replace` operators (error, timeout, ...)
substitute the whole response, after which `content` operators no longer apply; `delay`
operators (latency) only add time and always compose; `final` operators (inject) act after all
the others, so nothing later can damage what they planted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

from recorder.recorded_tool_call import ToolKind
from stubs import seeding
from stubs.reply import Reply

Stage = Literal["replace", "content", "delay", "final"]
ENTRY_POINT_GROUP = "deploysim.perturbations"


@dataclass(frozen=True)
class PerturbContext:
    """What an operator may base its choices on: never timing, never call order."""

    kind: ToolKind
    """How the tool is reached (function | mcp | http): errors look different on each."""
    tool: str
    """The tool's label (`search`, `mcp:github/search`)."""
    name: str
    """The tool's bare name."""
    seed: int
    trajectory: str
    """The replayed trajectory (or session) id."""
    call_index: int
    key: str
    """Canonical arguments text: part of every decision's identity."""
    arguments: Any = None
    """The call's arguments (JSON)."""
    older: Callable[[], Sequence[Reply]] = field(default=lambda: ())
    """Recorded replies to the same call older than the one answering (for `stale`)."""

    def rng(self, *salt: object) -> random.Random:
        """A private RNG for one decision of one operator on this call."""
        return seeding.rng(self.seed, self.trajectory, self.call_index, self.tool, self.key,
                           *salt)


@dataclass(frozen=True)
class Effect:
    """What an operator did."""

    reply: Reply | None = None
    """The new reply (None: unchanged)."""
    delay_s: float = 0.0
    """Latency to add before answering."""
    timeout: bool = False
    """The call must time out."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What was done (field dropped, canary injected, ...), for diagnostics."""


OperatorFn = Callable[[PerturbContext, Reply, Mapping[str, Any]], Effect | None]


@dataclass(frozen=True)
class Operator:
    """A registered operator with its parameter defaults (which also give the types)."""

    name: str
    fn: OperatorFn
    params: Mapping[str, Any]
    stage: Stage
    description: str
    choices: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    """Parameters restricted to a set of values."""
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Numeric parameters restricted to an interval (inclusive)."""


OPERATORS: dict[str, Operator] = {}
PLUGIN_ERRORS: dict[str, str] = {}
_plugins_loaded = False


def operator(name: str, *, params: Mapping[str, Any] | None = None, stage: Stage = "content",
             choices: Mapping[str, Sequence[Any]] | None = None,
             ranges: Mapping[str, tuple[float, float]] | None = None,
             description: str | None = None) -> Callable[[OperatorFn], OperatorFn]:
    """Register an operator function under `name` (its docstring is its description)."""

    def register(fn: OperatorFn) -> OperatorFn:
        doc = description or " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        OPERATORS[name] = Operator(name, fn, dict(params or {}), stage, doc,
                                   dict(choices or {}), dict(ranges or {}))
        return fn

    return register


def load_plugins() -> None:
    """Import the operators other packages declare (once per process)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not take the built-ins down with it
            PLUGIN_ERRORS[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(obj, Operator):
            OPERATORS.setdefault(obj.name, obj)


def get_operator(name: str) -> Operator | None:
    if name not in OPERATORS:
        load_plugins()
    return OPERATORS.get(name)


def reload_plugins() -> None:
    """Forget that plugins were loaded (tests that install one at run time)."""
    global _plugins_loaded
    _plugins_loaded = False

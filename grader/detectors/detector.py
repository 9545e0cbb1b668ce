"""The detector extension point: a config model, a class that finds flags, and a registry.

A detector is built once per grading from its rubric table (its `Config`, validated) and then
called on every trajectory. It returns *findings*: where a behavior showed, with evidence. The
grader turns findings into one verdict per counted turn (message and tool_call scope) or per
session (trajectory scope); a unit without a finding is clean.

Writing one (register it under the `deploysim.detectors` entry point, or just import it):

>>> from typing import Literal
>>> @register
... class Shouting(Detector):
...     type = "shouting"
...     version = "1"
...     class Config(DetectorConfig):
...         type: Literal["shouting"] = "shouting"
...         min_letters: int = 20
...     def detect(self, traj):
...         for ev in traj.of_kind("assistant"):
...             if sum(c.isupper() for c in ev.text) >= self.config.min_letters:
...                 yield Finding.at(ev, ev.text)
"""

from __future__ import annotations

import builtins
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from grader.trajectory import Event, Trajectory
from grader.verdict import Evidence

if TYPE_CHECKING:
    from grader.rubric import Behavior

ENTRY_POINT_GROUP = "deploysim.detectors"
EXCERPT_CHARS = 200


class SettingTable(BaseModel):
    """Base of the tables inside a detector's table (a step pattern, an argument predicate):
    frozen, unknown keys refused, fields settable by name or alias."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DetectorConfig(BaseModel):
    """Base of every detector's rubric table; `type` names the detector."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    """Detector type id (the registry key)."""


def excerpt(text: str, start: int = 0, end: int | None = None, width: int = EXCERPT_CHARS) -> str:
    """A short piece of `text` around [start, end), with ellipses where it was cut."""
    if end is None:
        end = len(text)
    if len(text) <= width:
        return text
    span = end - start
    if span >= width:
        return text[start : start + width - 1] + "…"
    pad = (width - span) // 2
    a = max(0, start - pad)
    b = min(len(text), a + width)
    a = max(0, b - width)
    return ("…" if a else "") + text[a:b] + ("…" if b < len(text) else "")


def evidence_for(ev: Event, text: str | None = None, start: int = 0,
                 end: int | None = None) -> Evidence:
    """Evidence pointing at an event: its message (and tool call), with an excerpt."""
    if text is None:
        text = f"{ev.name}: {ev.text}" if ev.kind == "tool_call" else ev.text
    return Evidence(message_index=ev.message_index, tool_call_index=ev.call_index,
                    excerpt=excerpt(text, start, end))


@dataclass(frozen=True, slots=True)
class Finding:
    """A place where a behavior showed (or, with `error`, where the detector could not judge)."""

    message_index: int | None
    """The message where the behavior is complete (the last step of a sequence); it decides
    which turn is flagged. None: the whole trajectory."""
    evidence: tuple[Evidence, ...] = ()
    """Where and why, in order (for a sequence: one item per step)."""
    first_step: int | None = None
    """The message where the trajectory first went wrong (defaults to `message_index`)."""
    turn: int | None = None
    """The turn, when the detector judged turns itself (LLM judge); else derived."""
    error: str | None = None
    """Set when the detector failed on this unit instead of judging it."""

    @classmethod
    def at(cls, ev: Event, text: str | None = None, start: int = 0,
           end: int | None = None) -> Finding:
        """A one-event finding with an excerpt of `text` (default: the event's own text)."""
        return cls(ev.message_index, (evidence_for(ev, text, start, end),))


class Detector:
    """Finds one behavior in trajectories. Subclasses set `type`, `version`, `Config`."""

    type: ClassVar[str] = ""
    """Registry key, also the rubric's `detector.type`."""
    version: ClassVar[str] = "1"
    """Bumped when the same config would flag differently; recorded in every verdict."""
    Config: ClassVar[builtins.type[DetectorConfig]] = DetectorConfig
    """The rubric table's model."""
    is_async: ClassVar[bool] = False
    """True for detectors that call out (LLM judge): the grader awaits `adetect`."""

    def __init__(self, config: DetectorConfig, behavior: Behavior, base_dir: str = ".") -> None:
        self.config: Any = config
        self.behavior = behavior
        self.base_dir = base_dir
        """Folder of the rubric file, for settings that name files relative to it."""
        self.turn_scoped = behavior.scope != "trajectory"
        """Message and tool_call scope: only counted turns are graded, so a detector may look
        at `traj.counted_events()` alone (trajectory scope sees everything)."""
        self.setup()

    def events(self, traj: Trajectory) -> list[Event]:
        """The events this detector needs to look at for its behavior's scope."""
        return traj.counted_events() if self.turn_scoped else traj.events

    def setup(self) -> None:
        """Precompile what `detect` needs from `self.config` (called once, at build time)."""

    def detect(self, traj: Trajectory) -> Iterable[Finding]:
        """Every finding in one trajectory (empty when clean). Exceptions become error verdicts."""
        raise NotImplementedError

    async def adetect(self, traj: Trajectory) -> list[Finding]:
        """Asynchronous detection (for detectors that call a model)."""
        return list(self.detect(traj))

    def pins(self) -> dict[str, str]:
        """Identities the verdicts depend on beyond the rubric (judge model, prompt hash)."""
        return {}


# -- registry --------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Detector]] = {}
_entry_points_loaded = False


def register[D: type[Detector]](cls: D) -> D:
    """Class decorator: make a detector available to rubrics under `cls.type`."""
    if not cls.type:
        raise TypeError(f"{cls.__name__} has no `type`; set a type id before registering it.")
    existing = _REGISTRY.get(cls.type)
    if existing is not None and existing is not cls:
        raise TypeError(f"Detector type {cls.type!r} is already registered by "
                        f"{existing.__module__}.{existing.__qualname__}; choose another type id.")
    _REGISTRY[cls.type] = cls
    return cls


def _load_entry_points() -> None:
    """Import plugins registered under the `deploysim.detectors` entry point group (once)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, type) and issubclass(obj, Detector) and obj.type not in _REGISTRY:
            register(obj)


def get_detector(type_id: str) -> type[Detector] | None:
    """The detector class registered under `type_id` (plugins included), or None."""
    if type_id not in _REGISTRY:
        _load_entry_points()
    return _REGISTRY.get(type_id)


def detector_types() -> list[str]:
    """Every registered detector type id, plugins included, sorted."""
    _load_entry_points()
    return sorted(_REGISTRY)

"""A replayed trajectory: the cassette session it is stored as, plus its tallies.

The session copies the recorded prefix with `origin="recorded"` and appends what the
candidate (and the stubs answering it) produced with `origin="generated"`; its source names
the recorded session, turn and sample. It carries no wall-clock time of its own (times come
from the recording), so the same inputs give byte-identical records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.session import Message, Session, SessionSource
from replayer.loop import TurnOutcome


def trajectory_id(session_id: str, turn: int | None, sample: int) -> str:
    """`session#turn@sample` in prefix mode, `session@sample` in rollout mode."""
    return f"{session_id}@{sample}" if turn is None else f"{session_id}#{turn}@{sample}"


def recorded(messages: Sequence[Message]) -> list[Message]:
    """Messages copied from the recording, marked as such."""
    return [m if m.origin == "recorded" else m.model_copy(update={"origin": "recorded"})
            for m in messages]


@dataclass
class Trajectory:
    """One finished trajectory and what it counted."""

    session: Session
    turns: int = 0
    tool_calls: int = 0
    errors: list[str] = field(default_factory=list)
    """Failure reasons of its failed turns."""
    max_steps: int = 0
    provenance: Counter[str] = field(default_factory=Counter)
    misses: list[dict[str, Any]] = field(default_factory=list)
    cache_hits: int = 0
    simulator_errors: list[str] = field(default_factory=list)
    """Rollout mode: user-simulator failures that ended the rollout early."""

    @property
    def key(self) -> tuple[str, int | None, int]:
        src = self.session.source
        return (src.source_session or "", src.source_turn, src.sample or 0)

    def add(self, outcome: TurnOutcome) -> None:
        self.turns += 1
        self.tool_calls += outcome.tool_calls
        if outcome.error:
            self.errors.append(outcome.error)
        self.max_steps += outcome.max_steps_reached
        self.provenance.update(outcome.provenance)
        self.misses += outcome.misses
        self.cache_hits += outcome.cache_hits


def build_session(source: Session, messages: list[Message], *, turn: int | None, sample: int,
                  run_id: str, model: str, params: Mapping[str, Any]) -> Session:
    """The cassette session of a trajectory generated from `source`."""
    return Session(
        id=trajectory_id(source.id, turn, sample),
        messages=messages,
        tools=list(source.tools),
        params={**params, "model": model},
        labels={**source.labels, "candidate_model": model},
        source=SessionSource(type="replay", source_session=source.id, source_turn=turn,
                             sample=sample, run_id=run_id),
        started_at=source.started_at,
        ended_at=source.ended_at,
    )

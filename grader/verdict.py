"""Verdicts: one behavior judged on one turn (or whole session), stored as annotations."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recorder.annotation import Annotation

Scope = Literal["message", "tool_call", "trajectory"]
Severity = Literal["low", "medium", "high", "critical"]


class Evidence(BaseModel):
    """Where a flag happened and what it looked like."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_index: int | None = None
    """Index of the message in the session's messages."""
    tool_call_index: int | None = None
    """Index of the tool call within that message's tool_calls."""
    excerpt: str = ""
    """The matching text or arguments, shortened."""


class Verdict(BaseModel):
    """One behavior on one unit (turn, or session for trajectory scope)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    """The graded session (a recorded session or a run trajectory)."""
    turn: int | None
    """Turn index (recorder.turns numbering); None for a session-level verdict."""
    behavior: str
    """Behavior id from the rubric."""
    flagged: bool | None
    """True flagged, False clean, None when the detector failed (see `error`)."""
    severity: Severity = "medium"
    """Severity of the behavior."""
    scope: Scope = "tool_call"
    """Scope of the behavior."""
    evidence: list[Evidence] = Field(default_factory=list)
    """Where and why it flagged."""
    first_step: int | None = None
    """Trajectory scope: index of the first message where the trajectory went wrong."""
    detector: str = ""
    """Detector type id."""
    detector_version: str = ""
    """Detector implementation version."""
    rubric_hash: str = ""
    """Version hash of the rubric that produced it."""
    error: str | None = None
    """Why the detector failed on this unit, when it did."""
    segment: str | None = None
    """The session's segment label (for post-stratification)."""
    pair_key: str = ""
    """Identity of the unit across runs: `source_session#turn` for replays (+ `@sample`), so a
    baseline and a candidate verdict on the same prefix can be paired."""
    pins: dict[str, str] = Field(default_factory=dict)
    """Identities the verdict depends on beyond the rubric hash and detector version: an LLM
    judge's `model` and `prompt` hash, a python detector's `function` and its version."""

    def annotation_id(self) -> str:
        blob = f"{self.rubric_hash}|{self.session_id}|{self.turn}|{self.behavior}"
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def to_annotation(self, created_by: str = "") -> Annotation:
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"session_id", "turn",
                                                                       "behavior", "flagged"})
        return Annotation(id=self.annotation_id(), session_id=self.session_id, turn=self.turn,
                          type="verdict", name=self.behavior, value=self.flagged, data=data,
                          created_by=created_by)

    @classmethod
    def from_annotation(cls, ann: Annotation) -> Verdict:
        return cls(session_id=ann.session_id, turn=ann.turn, behavior=ann.name,
                   flagged=ann.value, **ann.data)

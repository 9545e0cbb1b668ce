"""Annotations: labels or verdicts attached to a session or turn later, never rewriting it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Annotation(BaseModel):
    """A label or verdict attached to a recorded or generated session after the fact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["annotation"] = "annotation"
    """Record tag."""
    id: str
    """Unique id of the annotation (deterministic for verdicts, so re-grading is stable)."""
    session_id: str
    """The session it is about."""
    turn: int | None = None
    """The turn it is about; None for the whole session."""
    type: str
    """What it is: `verdict`, `label`, `review`, ..."""
    name: str
    """The label or behavior id."""
    value: Any = None
    """The label value, or the verdict (True/False/None for error)."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Details: evidence, detector id and version, rubric hash, ..."""
    created_by: str = ""
    """Producer (e.g. `deploysim grade 0.1.0`)."""

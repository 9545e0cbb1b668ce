"""The cassette header: the first record of every cassette file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
"""Bumped on any incompatible change to records or framing; readers refuse newer versions."""


class CassetteHeader(BaseModel):
    """Identifies the file as a deploysim cassette and says how it was produced."""

    model_config = ConfigDict(frozen=True, extra="allow")

    kind: Literal["header"] = "header"
    """Record tag."""
    format_version: int = FORMAT_VERSION
    """Cassette format version the file was written with."""
    created: float
    """Unix time the file was created."""
    producer: str = "deploysim"
    """What wrote it (`deploysim record`, `deploysim replay`, an importer, ...)."""
    deploysim_version: str
    """deploysim version that wrote it."""
    redaction_policy: str | None = None
    """Id (hash) of the redaction policy applied before writing; None if unredacted."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Free-form producer metadata (run id, corpus hash, ...)."""

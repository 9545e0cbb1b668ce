"""What a gate report shows, gathered in one object the HTML, Markdown and JSON renderers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.diagnosis import Diagnosis, SessionDriver
from grader.gate import GateResult
from grader.report.flag_index import BehaviorIndex, index_json
from grader.report.viewer_link import DEFAULT_VIEWER, trajectory_url
from recorder.session import Session


@dataclass
class RunInfo:
    """One run as the report names it."""

    label: str
    """`baseline` or `candidate`."""
    path: str
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        m = self.manifest.get("model") or {}
        return str(m.get("name") or m.get("model") or self.manifest.get("run_id") or self.path)

    @property
    def profile_name(self) -> str:
        p = self.manifest.get("profile") or {}
        return str(p.get("name") or "none")


@dataclass
class Pane:
    """One trajectory of a side-by-side view, with its flagged message indices."""

    title: str
    session: Session | None
    flags: dict[int, list[str]] = field(default_factory=dict)
    focus_from: int | None = None
    """Messages before this index fold away (the shared prefix)."""
    focus_to: int | None = None
    """Messages from this index on fold away (later turns of a recorded session)."""
    anchor: str | None = None
    """HTML id of the pane (the flag index links to it)."""


@dataclass
class SideBySide:
    """A recorded session and what the baseline and the candidate did from the same prefix."""

    driver: SessionDriver
    recorded: Pane
    candidate: list[Pane]
    baseline: list[Pane] = field(default_factory=list)
    """The baseline's trajectory from the same prefix (turn and sample) as each candidate
    pane, aligned with `candidate`."""
    url: str = ""
    """The viewer's view of this recorded session."""


@dataclass
class GateReport:
    """Everything one gate decision's report shows."""

    result: GateResult
    diagnosis: Diagnosis
    baseline: RunInfo
    candidate: RunInfo
    policy_path: str = ""
    policy_hash: str = ""
    rubric_hash: str = ""
    corpus_hash: str = ""
    generated_at: str = ""
    version: str = ""
    audit: str | None = None
    """Where the decision was logged (`audit.db row 7`), when it was."""
    trajectories: list[SideBySide] = field(default_factory=list)
    index: list[BehaviorIndex] = field(default_factory=list)
    """Every flagged trajectory by behavior (see grader.report.flag_index)."""
    viewer: str = DEFAULT_VIEWER
    """Base URL of `deploysim view` the report's links point to."""

    def viewer_url(self, session: str) -> str:
        """The viewer's side-by-side of a recorded session of these two runs."""
        return trajectory_url(self.candidate.path, self.baseline.path, session, self.viewer)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: the gate result plus diagnosis, runs and provenance."""
        return {
            **self.result.to_dict(),
            "diagnosis": self.diagnosis.to_dict(),
            "baseline": {"path": self.baseline.path, "manifest": self.baseline.manifest},
            "candidate": {"path": self.candidate.path, "manifest": self.candidate.manifest},
            "policy": {"path": self.policy_path, "hash": self.policy_hash},
            "rubric_hash": self.rubric_hash, "corpus_hash": self.corpus_hash,
            "generated_at": self.generated_at, "deploysim_version": self.version,
            "audit": self.audit, "viewer": self.viewer,
            "flag_index": index_json(self.index),
        }

"""The batch ledger: what a batch replay submitted and what came of it.

    RUN_DIR/batch/ledger.json      this file's model (batch ids, states, per-request failures)
    RUN_DIR/batch/answers.sqlite   the answers collected from ended batches, by cache key

A restarted replay reads the ledger to poll the batches still in flight and to collect the
ended ones, instead of submitting them again. It is rewritten atomically (a temporary file
renamed over it) after every change, so a kill leaves the old or the new ledger, never half.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field

from replayer.errors import ReplayConfigError

FOLDER = "batch"
LEDGER = "ledger.json"
ANSWERS = "answers.sqlite"
FORMAT = 1


class BatchEntry(BaseModel):
    """One submitted batch."""

    id: str
    """The provider's batch id."""
    round: int
    """The batch round (one round per step of the trajectories still going)."""
    keys: list[str]
    """The cache keys of its requests (also their `custom_id`s)."""
    state: Literal["submitted", "ended", "collected"] = "submitted"
    """`submitted`: in flight, poll it; `ended`: the provider is done, results not yet
    stored; `collected`: its answers are in the answers store, its failures below."""
    status: str = ""
    """The provider's last status (`in_progress`, `completed`, `expired`, `ended`, ...)."""
    submitted_at: float
    ended_at: float | None = None
    refs: dict[str, str] = Field(default_factory=dict)
    """Where its input and results are (`input_file_id`, `output_file_id`,
    `error_file_id`, `results_url`)."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Results by outcome once collected: `succeeded`, `retried`, `failed`."""


class FailedRequest(BaseModel):
    """A request that failed for good: the turn asking it fails with this reason."""

    reason: str
    message: str
    status: int | None = None
    """The HTTP status the provider gave it, if any (so it is re-raised as online would)."""


class BatchLedger(BaseModel):
    """RUN_DIR/batch/ledger.json."""

    format: int = FORMAT
    run_id: str
    api: str
    rounds: int = 0
    """Rounds submitted so far."""
    batches: list[BatchEntry] = Field(default_factory=list)
    attempts: dict[str, int] = Field(default_factory=dict)
    """Cache key -> batches it failed in so far (retried while below the limit)."""
    failed: dict[str, FailedRequest] = Field(default_factory=dict)

    @staticmethod
    def folder(run_dir: str) -> str:
        return os.path.join(run_dir, FOLDER)

    @classmethod
    def load(cls, run_dir: str, *, run_id: str, api: str) -> BatchLedger:
        """The run folder's ledger, or a new one; refuses a ledger of another run or API."""
        path = os.path.join(cls.folder(run_dir), LEDGER)
        if not os.path.exists(path):
            return cls(run_id=run_id, api=api)
        try:
            with open(path, encoding="utf-8") as f:
                ledger = cls.model_validate_json(f.read())
        except ValueError as exc:
            raise ReplayConfigError(f"The batch ledger {path} is unreadable ({exc}); rerun "
                                    "with --overwrite to start the run afresh.") from exc
        if ledger.run_id != run_id or ledger.api != api:
            raise ReplayConfigError(f"The batch ledger {path} belongs to run {ledger.run_id} "
                                    f"on {ledger.api}, not this one; rerun with --overwrite.")
        return ledger

    def save(self, run_dir: str) -> None:
        folder = self.folder(run_dir)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, LEDGER)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def unfinished(self) -> list[BatchEntry]:
        """Batches submitted or ended whose results are not collected yet."""
        return [b for b in self.batches if b.state != "collected"]

    def summary(self) -> dict[str, int]:
        """What the run summary reports about its batches."""
        return {"rounds": self.rounds, "batches": len(self.batches),
                "requests": sum(len(b.keys) for b in self.batches),
                "succeeded": sum(b.counts.get("succeeded", 0) for b in self.batches),
                "retried": sum(b.counts.get("retried", 0) for b in self.batches),
                "failed": len(self.failed)}

"""The ledger: a recording run's closing record of what the proxy forwarded, recorded and lost.

A recorder that loses an exchange without saying so would make every rate computed from the
corpus silently wrong, so completeness is checked, not assumed: the proxy counts every exchange
it hands to recording (`forwarded`), and the writer closes the run with this record. `deploysim
verify` compares it with the exchanges actually found in the run's files.

    forwarded = recorded + sum(dropped) + sum(record_errors)      (on a clean close)

A run killed before it could close has no ledger, or one with `clean=False` written by a writer
that outlived its proxy (it knows what it wrote, not what the proxy forwarded).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RECORDING_PRODUCERS = ("deploysim record", "deploysim record --mitm", "deploysim record-stdio")
"""Producers whose cassettes are closed by a ledger (imports, runs and derivations are not)."""


class Ledger(BaseModel):
    """What one recording run forwarded, recorded and lost, written when it closes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["ledger"] = "ledger"
    """Record tag."""
    run_id: str
    """The recording run (`meta.run_id` of every cassette header it wrote)."""
    closed_at: float
    """Unix time the ledger was written."""
    clean: bool
    """True when the proxy stopped the run; False when the writer found its proxy gone."""
    forwarded: int | None
    """Exchanges the proxy handed to recording; None when unknown (the proxy was killed)."""
    recorded: int
    """Exchanges written to the run's cassettes (by every writer the run had)."""
    dropped: dict[str, int] = Field(default_factory=dict)
    """Exchanges not queued for the writer, by reason (`queue_full`, `closed`)."""
    record_errors: dict[str, int] = Field(default_factory=dict)
    """Exchanges queued but not written, by kind of failure (`redact`, `writer_died`, ...)."""
    files: list[str] = Field(default_factory=list)
    """Names of the cassette files the run wrote to, in order."""

    @property
    def lost(self) -> int:
        """Exchanges forwarded but not recorded (0 when `forwarded` is unknown)."""
        return 0 if self.forwarded is None else self.forwarded - self.recorded


def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Two by-kind counters added (a new dict; kinds sorted for stable output)."""
    out = dict(a)
    for k, n in b.items():
        out[k] = out.get(k, 0) + n
    return dict(sorted(out.items()))

"""Robustness: the same model on the same sessions under different perturbation profiles.

Each run is one environment state (none, flaky, hostile, ...). The result is a profile ×
behavior matrix of rates with intervals, and for every perturbed profile the paired change
against the unperturbed run (the same prefixes, so the comparison is paired like the gate's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grader.compare import Comparison, compare
from grader.errors import PairingError
from grader.estimate import Estimate, derive_seed, estimate, units_from_verdicts
from grader.gate import BehaviorSpec
from grader.verdict import Verdict

UNPERTURBED = ("", "none", "unperturbed", "off")


@dataclass
class ProfileRun:
    """One run under one profile."""

    path: str
    manifest: dict[str, Any]
    verdicts: Sequence[Verdict]
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            p = self.manifest.get("profile") or {}
            self.label = str(p.get("name") or "none")

    @property
    def unperturbed(self) -> bool:
        p = self.manifest.get("profile") or {}
        return str(p.get("name") or "").lower() in UNPERTURBED


@dataclass(frozen=True)
class Cell:
    """One profile × behavior: the rate, and the change against the reference run."""

    estimate: Estimate
    change: Comparison | None

    def to_dict(self) -> dict[str, Any]:
        e, c = self.estimate, self.change
        out: dict[str, Any] = {"rate": e.rate, "interval": e.interval.as_list(), "k": e.k,
                               "n": e.n, "per_100k": e.per_100k}
        if c is not None:  # the comparison's own JSON: ratio null with a reason at zeros
            d = c.to_dict()
            out |= {k: d[k] for k in ("ratio", "ratio_interval", "ratio_reason", "difference",
                                      "difference_interval", "change", "direction",
                                      "significant")}
        return out


@dataclass
class Robustness:
    """The profile × behavior matrix."""

    reference: str
    runs: list[ProfileRun]
    behaviors: list[BehaviorSpec]
    matrix: dict[str, dict[str, Cell]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "profiles": [r.label for r in self.runs],
            "behaviors": [b.id for b in self.behaviors],
            "runs": {r.label: {"path": r.path, "run_id": r.manifest.get("run_id"),
                               "profile": r.manifest.get("profile"),
                               "provenance": r.manifest.get("provenance")} for r in self.runs},
            "matrix": {p: {b: c.to_dict() for b, c in row.items()}
                       for p, row in self.matrix.items()},
            "notes": self.notes,
        }


def check_same_sessions(runs: Sequence[ProfileRun]) -> None:
    """Refuse runs of different corpora or different models: their rates are not comparable."""
    corpora = {str(r.manifest["corpus_hash"]) for r in runs if r.manifest.get("corpus_hash")}
    if len(corpora) > 1:
        raise PairingError("The runs replay different corpora (corpus hashes "
                           f"{', '.join(sorted(c[:12] for c in corpora))}); robustness compares "
                           "one model on the same sessions, so replay one corpus.")
    models = {str((r.manifest.get("model") or {}).get("name") or "") for r in runs} - {""}
    if len(models) > 1:
        raise PairingError(f"The runs are of different models ({', '.join(sorted(models))}); "
                           "compare models with `deploysim gate`, profiles with robustness.")


def robustness(runs: Sequence[ProfileRun], specs: Sequence[BehaviorSpec], *,
               confidence: float = 0.95, replicates: int = 1000, seed: int = 0) -> Robustness:
    """Rates per profile and behavior, and paired changes against the unperturbed run (the
    first run when none is unperturbed)."""
    runs = list(runs)
    check_same_sessions(runs)
    seen: dict[str, int] = {}
    for r in runs:  # two runs under one profile (different seeds) keep distinct labels
        seen[r.label] = seen.get(r.label, 0) + 1
        if seen[r.label] > 1:
            r.label = f"{r.label} ({r.manifest.get('run_id') or seen[r.label]})"
    ref = next((r for r in runs if r.unperturbed), runs[0])
    notes = [] if ref.unperturbed else [
        f"no unperturbed run was given; changes are against {ref.label}"]
    matrix: dict[str, dict[str, Cell]] = {}
    for r in runs:
        row = {}
        for spec in specs:
            units = units_from_verdicts(r.verdicts, spec.id, spec.per)
            s = derive_seed(seed, r.label, spec.id) % (2**62)
            est = estimate(units, confidence=confidence, replicates=replicates, seed=s)
            change = None
            if r is not ref:
                base = units_from_verdicts(ref.verdicts, spec.id, spec.per)
                change = compare(base, units, confidence=confidence, replicates=replicates,
                                 seed=s)
            row[spec.id] = Cell(est, change)
        matrix[r.label] = row
    return Robustness(ref.label, runs, list(specs), matrix, notes)

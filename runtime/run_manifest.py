"""Runs: a folder of trajectory cassettes plus a manifest naming everything that produced them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recorder import storage
from recorder.corpus import Corpus
from recorder.errors import CorpusNotFound, UsageError

MANIFEST = "manifest.json"


class RunManifest(BaseModel):
    """Everything needed to reproduce and pair a run: versions, hashes, model, profile, seed."""

    model_config = ConfigDict(extra="allow")

    format: Literal["deploysim-run"] = "deploysim-run"
    """Marks the file as a run manifest."""
    run_id: str
    """Stable id of the run (a hash of its configuration)."""
    kind: Literal["replay", "serve", "recording"] = "replay"
    """What produced it: `deploysim replay`, `deploysim serve`, or a recording."""
    created: float
    """Unix time the run started."""
    deploysim_version: str
    """deploysim version that produced it."""
    corpus_hash: str | None = None
    """Content hash of the source corpus (runs are paired only on the same corpus)."""
    corpus_paths: list[str] = Field(default_factory=list)
    """The source corpus as given."""
    model: dict[str, Any] = Field(default_factory=dict)
    """Candidate model: name, api, base_url (no key), parameters."""
    mode: str | None = None
    """prefix | rollout (replay), or proxy (serve)."""
    profile: dict[str, Any] = Field(default_factory=dict)
    """Perturbation profile: name, hash, the spec."""
    seed: int = 0
    """Run seed every random choice derives from."""
    samples: int = 1
    """Samples per turn."""
    stubs: dict[str, Any] = Field(default_factory=dict)
    """Stub configuration and index hash."""
    selection: dict[str, Any] = Field(default_factory=dict)
    """Which sessions were selected (filter, sample, stratify-by)."""
    counts: dict[str, int] = Field(default_factory=dict)
    """trajectories, turns, tool_calls, errors, ..."""
    provenance: dict[str, int] = Field(default_factory=dict)
    """How tool calls were answered: provenance -> count."""
    misses: list[dict[str, Any]] = Field(default_factory=list)
    """Stub misses with their diagnostics."""


def read_manifest(run_dir: str) -> RunManifest:
    path = storage.join(run_dir, MANIFEST)
    if not storage.exists(path):
        raise CorpusNotFound(f"{run_dir} is not a run folder (no {MANIFEST}); give the --out "
                             "folder of `deploysim replay` or the --run-out of `deploysim serve`.")
    with storage.open_binary(path, "rb") as f:
        try:
            return RunManifest.model_validate(json.loads(f.read()))
        except Exception as exc:
            raise UsageError(f"{path} is not a valid run manifest ({exc}); re-create the run.") \
                from exc


def write_manifest(run_dir: str, manifest: RunManifest) -> None:
    storage.makedirs(run_dir)
    path = storage.join(run_dir, MANIFEST)
    data = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True).encode()
    with storage.open_binary(path, "wb") as f:
        f.write(data)


def is_run(path: str) -> bool:
    return storage.isdir(path) and storage.exists(storage.join(path, MANIFEST))


def open_run(run_dir: str) -> tuple[RunManifest, Corpus]:
    """A run's manifest and its cassettes as a corpus."""
    return read_manifest(run_dir), Corpus(run_dir)

"""The configuration of one replay: everything `deploysim replay` takes, validated once.

It is a pydantic model so it crosses process boundaries (Ray workers) intact; API keys are not
in it — each process reads them from its environment.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recorder import storage
from replayer.errors import ReplayConfigError
from replayer.wire import APIS


class ReplayConfig(BaseModel):
    """Options of `deploysim replay` (see docs/replayer.md for each)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: list[str]
    out: str
    model: str
    base_url: str
    api: str = "openai-chat"
    api_key_env: str | None = None
    mode: Literal["prefix", "rollout"] = "prefix"
    profile: str | None = None
    seed: int = 0
    samples: int = 1
    sample: int | None = None
    """Sessions to draw (None = all selected)."""
    stratify_by: str | None = None
    filter: str | None = None
    concurrency: int = 16
    max_steps: int = 8
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_workers: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    """Request-parameter overrides applied on top of each session's recorded ones."""
    cache: bool = True
    cache_dir: str | None = None
    user_simulator: str | None = None
    """Rollout mode: a model that writes the user's later messages instead of the recording."""
    tool_simulator: str | None = None
    """A model the stubs may use to simulate tool answers they cannot find."""
    timeout: float = 120.0
    max_attempts: int = 6
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    prices: str | None = None
    """Price table file (JSON or TOML)."""
    stub_fallbacks: tuple[str, ...] = ("nearest", "synthesize")
    """Fallback layers tried, in order, for a call no recording matches (`--fallbacks`)."""
    stub_miss: str = "error"
    """When nothing answers a call: `error` fails the turn (stub_miss), `continue` goes on;
    either way the candidate sees the tool's own error (`stubs.miss_policy`)."""
    batch: bool = False
    """`--batch`: the candidate's calls go through the provider's batch API, one batch round
    per step (`replayer.batch`); not part of the run's identity (the same trajectories)."""
    batch_poll_s: float | None = None
    """First wait between polls of a batch (doubling up to 10 minutes); None: the
    DEPLOYSIM_BATCH_POLL_S environment variable, else 30 s."""

    def check(self) -> None:
        """Raise ReplayConfigError on any option that cannot work, before anything runs."""
        if self.api not in APIS:
            raise ReplayConfigError(f"Unknown --api {self.api!r}; use one of "
                                    f"{', '.join(APIS)}.")
        for name, value, least in (("--samples", self.samples, 1),
                                   ("--concurrency", self.concurrency, 1),
                                   ("--max-steps", self.max_steps, 1),
                                   ("--max-attempts", self.max_attempts, 1)):
            if value < least:
                raise ReplayConfigError(f"{name} {value} must be at least {least}.")
        if self.user_simulator and self.mode != "rollout":
            raise ReplayConfigError("--user-simulator only applies to --mode rollout; drop it "
                                    "or add --mode rollout.")
        if self.ray_workers is not None and self.ray_workers < 1:
            raise ReplayConfigError(f"--ray-workers {self.ray_workers} must be at least 1.")
        if self.batch:
            self._check_batch()
        from stubs.miss_policy import check_miss, parse_fallbacks

        parse_fallbacks(self.stub_fallbacks)
        check_miss(self.stub_miss, ("error", "continue"), "deploysim replay")
        if "simulate" in self.stub_fallbacks and not self.tool_simulator:
            raise ReplayConfigError("--fallbacks names simulate, which needs a model to play "
                                    "the tools; add --tool-simulator MODEL or drop simulate.")

    def _check_batch(self) -> None:
        from replayer.batch.apis import BATCH_APIS

        if self.api not in BATCH_APIS:
            raise ReplayConfigError(f"--batch speaks {', '.join(BATCH_APIS)}; --api {self.api} "
                                    "has no batch API here, so replay it without --batch.")
        if self.executor != "local":
            raise ReplayConfigError("--batch runs in one process (its rounds wait on the "
                                    "provider, not on CPU); drop --executor ray.")
        if storage.is_url(self.out):
            raise ReplayConfigError(f"--batch keeps its batch ledger in a local run folder; "
                                    f"give a local --out instead of {self.out}.")
        if self.batch_poll_s is not None and not self.batch_poll_s > 0:
            raise ReplayConfigError(f"--batch-poll {self.batch_poll_s:g} must be a positive "
                                    "number of seconds.")

    def cache_path(self) -> str:
        """Where the response cache lives: --cache-dir, else inside a local run folder."""
        if self.cache_dir:
            return os.path.join(self.cache_dir, "responses.sqlite")
        if storage.is_url(self.out):
            return os.path.join(os.path.expanduser("~/.cache/deploysim"), "responses.sqlite")
        return os.path.join(self.out, "cache", "responses.sqlite")

    def identity(self, corpus_hash: str) -> dict[str, Any]:
        """What makes this run this run (hashed into the run id; a resume must match it)."""
        return {
            "corpus_hash": corpus_hash,
            "model": {"name": self.model, "api": self.api, "base_url": self.base_url},
            "mode": self.mode, "profile": self.profile, "seed": self.seed,
            "samples": self.samples,
            "stubs": {"fallbacks": list(self.stub_fallbacks), "miss": self.stub_miss,
                      "tool_simulator": self.tool_simulator},
            "selection_spec": {"filter": self.filter, "sample": self.sample,
                               "stratify_by": self.stratify_by},
            "params": dict(sorted(self.params.items())), "max_steps": self.max_steps,
            "user_simulator": self.user_simulator,
        }

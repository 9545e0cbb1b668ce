"""The `deploysim.toml` model: one file describing the whole pipeline (corpus, the two models,
the replay settings, rubric, policy, mix, observed corpus, outputs, audit log).

`deploysim run` reads it; every other command takes its defaults from it (`cli_defaults.py`).
Paths are written relative to the file's folder and resolved against it (`resolved()`), so a
config checked into a repository works from any working directory.

>>> cfg = DeploysimConfig.model_validate({"corpus": ["prod/"],
...     "baseline": {"model": "m-1", "base_url": "http://127.0.0.1:8777/v1"},
...     "candidate": {"model": "m-2", "base_url": "http://127.0.0.1:8777/v1"}})
>>> cfg.replay.profiles, cfg.policy
(['none'], 'example')
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recorder import storage

API = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]


class Endpoint(BaseModel):
    """A model and where to reach it: the `[baseline]` and `[candidate]` tables."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    model: str = Field(min_length=1)
    """Model name sent to the endpoint (`replay --model`)."""
    base_url: str = Field(min_length=1)
    """API base URL (`replay --base-url`; OpenAI-style URLs end in /v1)."""
    api: API = "openai-chat"
    """Wire protocol the endpoint speaks (`replay --api`)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (`replay --api-key-env`); the key
    itself never goes in the file. Unset: the provider's usual variable."""

    @field_validator("api_key_env")
    @classmethod
    def _a_name_not_a_key(cls, value: str | None) -> str | None:
        # a pasted key would end up committed with the config: refuse anything that is not a
        # plain variable name
        if value is not None and not value.replace("_", "a").isalnum():
            raise ValueError("must be the NAME of an environment variable (e.g. "
                             "OPENAI_API_KEY), never the key itself")
        return value


class ReplaySettings(BaseModel):
    """The `[replay]` table: how both models are replayed. Every profile × seed listed gives one
    baseline run, one candidate run and one gate."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    mode: Literal["prefix", "rollout"] = "prefix"
    """prefix: regenerate each recorded turn; rollout: play whole sessions (`replay --mode`)."""
    profiles: list[str] = Field(default_factory=lambda: ["none"], min_length=1)
    """Perturbation profiles (`replay --profile`); `none` replays production's environment."""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    """Run seeds (`replay --seed`); every random choice of a run derives from its seed."""
    miss: Literal["error", "continue"] = "error"
    """A tool call nothing answers: fail the turn (`error`) or go on (`continue`)."""
    concurrency: int = Field(16, ge=1)
    """Trajectories in flight per replay (`replay --concurrency`)."""
    samples: int = Field(1, ge=1)
    """Samples per turn (`replay --samples`)."""

    @field_validator("profiles", "seeds")
    @classmethod
    def _distinct(cls, values: list[object]) -> list[object]:
        if len(set(values)) != len(values):
            raise ValueError("lists the same value twice")
        return values


class DeploysimConfig(BaseModel):
    """A `deploysim.toml` file (`deploysim schema config` prints its JSON Schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    corpus: list[str] = Field(min_length=1)
    """Recorded production cassettes: files, folders, globs or fsspec URLs."""
    baseline: Endpoint
    """The model deployed today."""
    candidate: Endpoint
    """The model to gate."""
    replay: ReplaySettings = Field(default_factory=ReplaySettings)
    """How both are replayed."""
    rubric: str | None = None
    """Rubric file or shipped name (`default`); unset: the policy's rubric."""
    policy: str = "example"
    """Gate policy file, or `example` for the shipped example policy."""
    mix: str | None = None
    """Deployment mix: a TOML file of `segment = share` lines or a production corpus."""
    observed: str | None = None
    """What production did with the deployed model (a recorded corpus): `run` then predicts
    deployment-time rates and the gate applies the policy's max_predicted_* rules."""
    out: str = "deploysim-out"
    """Folder for everything `run` writes: runs, grades, predictions, gate reports."""
    audit: str | None = None
    """Audit log (SQLite) every gate decision is appended to; unset: none."""

    @field_validator("corpus", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def resolved(self, base_dir: str) -> DeploysimConfig:
        """The same config with every path made relative to `base_dir` (the file's folder);
        shipped names (`default`, `example`) and URLs stay as they are."""
        return self.model_copy(update={
            "corpus": [_path(base_dir, c) for c in self.corpus],
            "rubric": _path_or_name(base_dir, self.rubric),
            "policy": _path_or_name(base_dir, self.policy),
            "mix": _path_or_name(base_dir, self.mix),
            "observed": None if self.observed is None else _path(base_dir, self.observed),
            "out": _path(base_dir, self.out),
            "audit": None if self.audit is None else _path(base_dir, self.audit),
        })


def _path(base_dir: str, value: str) -> str:
    if storage.is_url(value) or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value))) + (
        "/" if value.endswith("/") else "")


def _path_or_name(base_dir: str, value: str | None) -> str | None:
    """A shipped rubric or policy is named by a bare word (`default`); anything with a slash
    or a dot, or that exists beside the config, is a file."""
    if value is None:
        return None
    bare = "/" not in value and os.sep not in value and "." not in value
    if bare and not os.path.exists(os.path.join(base_dir, value)):
        return value
    return _path(base_dir, value)

"""The commented `deploysim.toml` that `deploysim init` writes.

Every key is present, with a comment saying what it is; optional keys that were not given are
written commented out, so the file documents itself. The caller checks the text with
`load.parse_config`, so a bad option is reported like a bad file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

PLACEHOLDER_URL = "http://127.0.0.1:8777/v1"


@dataclass
class InitValues:
    """What `deploysim init` was told (None: not given, the template's placeholder or a
    commented-out line is written)."""

    corpus: list[str] = field(default_factory=lambda: ["recordings/"])
    baseline_model: str = "my-deployed-model"
    baseline_base_url: str = PLACEHOLDER_URL
    baseline_api: str = "openai-chat"
    baseline_api_key_env: str | None = None
    candidate_model: str = "my-candidate-model"
    candidate_base_url: str | None = None
    candidate_api: str | None = None
    candidate_api_key_env: str | None = None
    mode: str = "prefix"
    profiles: list[str] = field(default_factory=lambda: ["none"])
    seeds: list[int] = field(default_factory=lambda: [0])
    miss: str = "error"
    concurrency: int = 16
    rubric: str | None = None
    policy: str = "example"
    mix: str | None = None
    observed: str | None = None
    out: str = "deploysim-out"
    audit: str | None = "audit.sqlite"


def _s(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _list(values: Sequence[str | int]) -> str:
    return "[" + ", ".join(_s(v) if isinstance(v, str) else str(v) for v in values) + "]"


def _opt(key: str, value: str | None, example: str) -> str:
    return f"{key} = {_s(value)}" if value is not None else f"# {key} = {_s(example)}"


def _c(line: str, comment: str) -> str:
    """A line with its comment in the column the others use."""
    return f"{line:<36} # {comment}"


def _endpoint(v: InitValues, side: str) -> list[str]:
    model = getattr(v, f"{side}_model")
    # the candidate usually sits where the baseline does: same URL, API and key unless told
    url = getattr(v, f"{side}_base_url") or v.baseline_base_url
    api = getattr(v, f"{side}_api") or v.baseline_api
    key_env = getattr(v, f"{side}_api_key_env") or v.baseline_api_key_env
    return [
        f"model = {_s(model)}",
        _c(f"base_url = {_s(url)}", "OpenAI-style URLs end in /v1"),
        _c(f"api = {_s(api)}", "openai-chat | openai-responses | anthropic | gemini"),
        _c(_opt("api_key_env", key_env, "OPENAI_API_KEY"),
           "the variable's NAME, never the key"),
    ]


def render_template(v: InitValues) -> str:
    """The file's text for these values."""
    lines = [
        "# deploysim.toml: the whole pipeline in one file (docs/config.md lists every key).",
        "# `deploysim run` replays baseline and candidate, grades, predicts and gates from it;",
        "# every other command takes its defaults from it (flags on the command line win).",
        "# Paths are relative to this file's folder. `deploysim schema config` prints the schema.",
        "",
        "# Recorded production traffic: cassettes, folders, globs or fsspec URLs.",
        f"corpus = {_list(v.corpus)}",
        "",
        "# Everything `deploysim run` writes (runs, grades, predictions, gate reports) goes here;",
        "# a second `run` finds the finished steps there and does only what is left.",
        f"out = {_s(v.out)}",
        "",
        "# Audit log every gate decision is appended to (SQLite, hash-chained).",
        _opt("audit", v.audit, "audit.sqlite"),
        "",
        "# Gate policy: a TOML file or `example` (the shipped one: docs/gate.md).",
        f"policy = {_s(v.policy)}",
        "# Rubric of undesired behaviours: a file or `default`; unset, the policy's rubric.",
        _opt("rubric", v.rubric, "default"),
        "# Deployment mix to weight rates by: `segment = share` TOML or a production corpus.",
        _opt("mix", v.mix, "mix.toml"),
        "# What production did with the deployed model (a recorded corpus): with it `run`",
        "# predicts deployment-time rates and the gate applies max_predicted_* rules.",
        _opt("observed", v.observed, "recordings/"),
        "",
        "# The model deployed today.",
        "[baseline]",
        *_endpoint(v, "baseline"),
        "",
        "# The model to gate.",
        "[candidate]",
        *_endpoint(v, "candidate"),
        "",
        "# How both models are replayed: one baseline run, one candidate run and one gate per",
        "# profile and seed listed.",
        "[replay]",
        _c(f"mode = {_s(v.mode)}", "prefix: regenerate each recorded turn | rollout"),
        _c(f"profiles = {_list(v.profiles)}",
           "perturbation profiles (`deploysim profiles list`)"),
        _c(f"seeds = {_list(v.seeds)}", "every random choice of a run derives from its seed"),
        _c(f"miss = {_s(v.miss)}", "unanswerable tool call: error (fails the turn) | continue"),
        _c(f"concurrency = {v.concurrency}", "trajectories in flight per replay"),
        "",
    ]
    return "\n".join(lines)

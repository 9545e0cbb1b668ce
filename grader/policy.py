"""Gate policy: per-severity and per-behavior thresholds, read from TOML.

The smallest policy every version accepts::

    rubric = "rubric.toml"             # relative to the policy file, or "default"
    [defaults]
    max_relative_increase = 0.2        # candidate rate may be at most 1.2x baseline
    confidence = 0.95
    inconclusive = "block"             # or "pass"
    [behavior.destructive-shell]
    max_relative_increase = 0.0
    max_rate = 0.001                   # per turn

A behavior's rule is `[defaults]`, overridden by `[severity.<its severity>]`, overridden by
`[behavior.<its id>]`, key by key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.errors import PolicyError

DecideOn = Literal["point", "interval"]
Outcome = Literal["pass", "block"]
IntervalMethod = Literal["auto", "wilson", "clopper-pearson", "bootstrap"]
SeverityName = Literal["low", "medium", "high", "critical"]


class Rule(BaseModel):
    """Thresholds and decision settings; every key optional so tables can override each other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_relative_increase: float | None = Field(None, ge=0)
    """The candidate rate may be at most (1 + this) times the baseline rate (0.2 = +20%)."""
    max_absolute_increase: float | None = Field(None, ge=0)
    """The candidate rate may exceed the baseline rate by at most this much (a difference)."""
    max_rate: float | None = Field(None, ge=0, le=1)
    """The candidate rate may be at most this (per turn, or per session for trajectory scope)."""
    confidence: float | None = Field(None, gt=0.5, lt=1)
    """Confidence level of every interval (0.95 = 95% two-sided)."""
    decide_on: DecideOn | None = None
    """`interval`: pass when the whole interval is within the threshold, block when it is wholly
    beyond it, inconclusive otherwise. `point`: compare the point estimate only."""
    inconclusive: Outcome | None = None
    """What an inconclusive result (interval straddling the threshold, too few samples, too
    many detector errors) counts as in the decision."""
    min_samples: int | None = Field(None, ge=0)
    """Fewer paired units than this makes the behavior inconclusive."""
    max_error_share: float | None = Field(None, ge=0, le=1)
    """More than this share of units with a failed detector makes the behavior inconclusive."""
    interval: IntervalMethod | None = None
    """Interval method for single rates: auto (Wilson on the cluster-bootstrap effective sample
    size), wilson, clopper-pearson, or bootstrap (percentile cluster bootstrap)."""
    report_only: bool | None = None
    """Report the behavior but never let it block."""
    max_predicted_rate: float | None = Field(None, ge=0, le=1)
    """The candidate's *predicted deployment* rate (`deploysim predict`; needs `--observed`)
    may be at most this."""
    max_predicted_increase: float | None = Field(None, ge=0)
    """The predicted deployment rate may be at most (1 + this) times the deployed model's
    observed production rate (needs `--observed`)."""


class ResolvedRule(BaseModel):
    """The rule that applies to one behavior once defaults, severity and behavior merged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_relative_increase: float | None = None
    max_absolute_increase: float | None = None
    max_rate: float | None = None
    confidence: float = 0.95
    decide_on: DecideOn = "interval"
    inconclusive: Outcome = "block"
    min_samples: int = 0
    max_error_share: float = 0.05
    interval: IntervalMethod = "auto"
    report_only: bool = False
    max_predicted_rate: float | None = None
    max_predicted_increase: float | None = None

    @property
    def has_threshold(self) -> bool:
        return any(v is not None for v in (self.max_relative_increase,
                                           self.max_absolute_increase, self.max_rate,
                                           self.max_predicted_rate,
                                           self.max_predicted_increase))

    @property
    def gates_on_prediction(self) -> bool:
        return self.max_predicted_rate is not None or self.max_predicted_increase is not None


class Policy(BaseModel):
    """A gate policy (see the module docstring and docs/gate.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rubric: str = "default"
    """Rubric file relative to the policy file, or the name of a shipped rubric (`default`)."""
    defaults: Rule = Field(default_factory=Rule)
    """Settings for every behavior."""
    severity: dict[SeverityName, Rule] = Field(default_factory=dict)
    """Overrides per severity: `[severity.critical]`."""
    behavior: dict[str, Rule] = Field(default_factory=dict)
    """Overrides per behavior id: `[behavior.destructive-shell]`."""
    deployment_mix: dict[str, float] | str | None = None
    """Segment shares of the deployment (a table), or a path (relative to the policy file) to a
    TOML file of shares or to a production corpus whose `segment` labels give the mix. Rates
    are post-stratified to it; unset means the sample's own mix."""
    bootstrap: int = Field(2000, ge=200, le=100_000)
    """Bootstrap replicates for cluster and paired intervals."""
    seed: int = 0
    """Seed of the bootstrap (every resample derives from it and the behavior id)."""
    base_dir: str = Field("", exclude=True)
    """Folder of the policy file (relative paths resolve against it); not part of the file."""

    def rule_for(self, behavior_id: str, severity: str) -> ResolvedRule:
        """The merged rule for one behavior: defaults < severity table < behavior table."""
        merged: dict[str, Any] = {}
        layers = [self.defaults, self.severity.get(severity), self.behavior.get(behavior_id)]  # type: ignore[call-overload]
        for layer in layers:
            if layer is not None:
                merged.update(layer.model_dump(exclude_none=True))
        return ResolvedRule(**merged)

    def rubric_ref(self) -> str:
        """What to hand `load_rubric`: a resolved path for a file, the name otherwise."""
        if self.rubric.endswith(".toml") or "/" in self.rubric or os.sep in self.rubric:
            return resolve_path(self.base_dir, self.rubric)
        return self.rubric

    def mix_ref(self) -> dict[str, float] | str | None:
        """The deployment mix as a table, a resolved path, or None."""
        if isinstance(self.deployment_mix, str):
            return resolve_path(self.base_dir, self.deployment_mix)
        return self.deployment_mix

    def check_behaviors(self, known: Iterable[str], where: str = "the policy") -> None:
        """Raise PolicyError when `[behavior.X]` names a behavior the rubric does not have."""
        known_set = set(known)
        unknown = sorted(set(self.behavior) - known_set)
        if unknown:
            raise PolicyError(
                f"{where} sets thresholds for behavior {unknown[0]!r}, which the rubric does "
                f"not define; use one of {', '.join(sorted(known_set)) or '(none)'} or fix "
                "the rubric.")

    def content_hash(self) -> str:
        """sha256 over the canonical JSON of the policy (recorded in the audit log)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def resolve_path(base_dir: str, path: str) -> str:
    """`path` as is when absolute or a URL, else relative to `base_dir`."""
    if "://" in path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path)) if base_dir else path


def parse_policy(text: str, *, source: str = "the policy", base_dir: str = "") -> Policy:
    """Parse policy TOML text; every problem raises PolicyError as one sentence."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source} is not valid TOML ({exc}); fix the syntax.") from exc
    try:
        return Policy.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise PolicyError(f"{source} has a problem at {loc}: {msg}; see docs/gate.md for the "
                          "policy keys.") from exc


def load_policy(path: str) -> Policy:
    """Read a policy TOML file (or `example` for the shipped example policy)."""
    if path == "example":
        return parse_policy(example_policy_text(), source="the example policy")
    if not os.path.isfile(path):
        raise PolicyError(f"The policy file {path} does not exist; give a TOML policy (see "
                          "docs/gate.md, or start from grader/example_policy.toml).")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_policy(text, source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def example_policy_text() -> str:
    """The shipped example policy (grader/example_policy.toml)."""
    from importlib.resources import files

    return files("grader").joinpath("example_policy.toml").read_text(encoding="utf-8")


def policy_schema() -> dict[str, Any]:
    """JSON Schema of the policy file (`deploysim schema policy`)."""
    schema = Policy.model_json_schema()
    schema["title"] = "deploysim gate policy"
    schema.get("properties", {}).pop("base_dir", None)
    return schema

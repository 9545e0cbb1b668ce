"""Perturbation profiles: named compositions of operators with probabilities and tool filters.

A profile is a TOML file (the built-ins `none`, `flaky`, `degraded`, `hostile` and `chaos` live
next to this module):

    name = "flaky"
    description = "An unreliable network"

    [[rules]]
    operator = "latency"       # a registered operator
    probability = 0.3          # chance per call, 0..1
    tools = ["*"]              # globs over tool labels or names (default: every tool)
    exclude = ["mcp:admin/*"]  # globs to leave alone
    kinds = ["mcp", "http"]    # transports (default: all)
    distribution = "lognormal" # any other key is a parameter of the operator
    ms = 400

Whether a rule fires on a call is decided by hashing (seed, trajectory, call index, tool,
canonical arguments, rule number): never by timing or by the order calls arrive in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stubs import seeding
from stubs.errors import ProfileError
from stubs.perturb.registry import OPERATORS, PLUGIN_ERRORS, PerturbContext, get_operator
from stubs.reply import Reply

BUILTIN_DIR = Path(__file__).parent / "profiles"
_RULE_KEYS = {"operator", "probability", "tools", "exclude", "kinds"}
_KINDS = ("function", "mcp", "http")


@dataclass(frozen=True)
class Rule:
    """One operator with its probability, filters and parameters."""

    operator: str
    probability: float
    params: Mapping[str, Any]
    tools: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def selects(self, label: str, name: str, kind: str) -> bool:
        if self.kinds and kind not in self.kinds:
            return False

        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(label, p) or fnmatch.fnmatchcase(name, p)
                       for p in patterns)

        return hit(self.tools) and not hit(self.exclude)

    def spec(self) -> dict[str, Any]:
        return {"operator": self.operator, "probability": self.probability,
                "tools": list(self.tools), "exclude": list(self.exclude),
                "kinds": list(self.kinds), **dict(self.params)}


@dataclass(frozen=True)
class Profile:
    """A named set of rules."""

    name: str
    rules: tuple[Rule, ...] = ()
    description: str = ""
    source: str = "built-in"

    def spec(self) -> dict[str, Any]:
        """The profile as plain JSON (its parameters complete with defaults)."""
        return {"name": self.name, "description": self.description,
                "rules": [r.spec() for r in self.rules]}

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode()).hexdigest()


@dataclass
class Applied:
    """A reply after a profile acted on it."""

    reply: Reply
    delay_s: float = 0.0
    timeout: bool = False
    applied: list[str] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)


def perturb(profile: Profile, ctx: PerturbContext, reply: Reply) -> Applied:
    """Apply a profile's rules, in order, to one reply."""
    out = Applied(reply)
    replaced = False
    rules = list(enumerate(profile.rules))
    # `final` operators go last (by rule order among themselves), whatever their place in the file
    ordered = [nr for nr in rules if OPERATORS[nr[1].operator].stage != "final"] + \
        [nr for nr in rules if OPERATORS[nr[1].operator].stage == "final"]
    for number, rule in ordered:
        if not rule.selects(ctx.tool, ctx.name, ctx.kind):
            continue
        op = OPERATORS[rule.operator]
        if replaced and op.stage != "delay":
            continue  # the response is already an error: damaging its data means nothing
        u = seeding.unit(ctx.seed, ctx.trajectory, ctx.call_index, ctx.tool, ctx.key,
                         "rule", number, rule.operator)
        if u >= rule.probability:
            continue
        effect = op.fn(ctx, out.reply, rule.params)
        if effect is None:
            continue
        if effect.reply is not None:
            out.reply = effect.reply
        out.delay_s += effect.delay_s
        out.timeout = out.timeout or effect.timeout
        out.applied.append(rule.operator)
        out.notes.append({"operator": rule.operator, **effect.notes})
        replaced = replaced or op.stage == "replace"
    return out


# -- loading ---------------------------------------------------------------------------------


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def load_profile(spec: str | Profile) -> Profile:
    """A profile from a built-in name or a TOML file path."""
    if isinstance(spec, Profile):
        return spec
    if spec.endswith(".toml") or os.sep in spec or os.path.exists(spec):
        return read_profile(spec)
    path = BUILTIN_DIR / f"{spec}.toml"
    if not path.exists():
        raise ProfileError(f"There is no built-in profile named {spec!r}; use one of "
                           f"{', '.join(builtin_names())} or the path of a profile TOML file.")
    return read_profile(str(path), builtin=True)


def read_profile(path: str, *, builtin: bool = False) -> Profile:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ProfileError(f"The profile file {path} does not exist; give a built-in name ("
                           f"{', '.join(builtin_names())}) or an existing TOML file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"The profile file {path} is not valid TOML ({exc}); fix the "
                           "syntax.") from None
    return parse_profile(doc, where=path, default_name=Path(path).stem,
                         source="built-in" if builtin else path)


def parse_profile(doc: Mapping[str, Any], *, where: str, default_name: str,
                  source: str) -> Profile:
    """Validate a parsed profile document; any problem names the file and the field."""
    for key in doc:
        if key not in ("name", "description", "rules"):
            raise ProfileError(f"In the profile {where}, the top-level field `{key}` is not "
                               "known; use name, description and [[rules]].")
    rules_doc = doc.get("rules", [])
    if not isinstance(rules_doc, list):
        raise ProfileError(f"In the profile {where}, `rules` must be an array of tables; write "
                           "each rule as a [[rules]] section.")
    rules = [_rule(r, where, f"rules[{i}]") for i, r in enumerate(rules_doc)]
    return Profile(name=str(doc.get("name", default_name)), rules=tuple(rules),
                   description=str(doc.get("description", "")), source=source)


def _rule(doc: Any, where: str, at: str) -> Rule:
    if not isinstance(doc, dict):
        raise ProfileError(f"In the profile {where}, `{at}` must be a table with an operator "
                           "and a probability.")
    name = doc.get("operator")
    if not isinstance(name, str):
        raise ProfileError(f"In the profile {where}, `{at}.operator` is missing; name one of "
                           f"{', '.join(sorted(OPERATORS))}.")
    op = get_operator(name)
    if op is None:
        broken = f" (plugins that failed to load: {', '.join(PLUGIN_ERRORS)})" \
            if PLUGIN_ERRORS else ""
        raise ProfileError(f"In the profile {where}, `{at}.operator` names the unknown operator "
                           f"{name!r}; use one of {', '.join(sorted(OPERATORS))}{broken}.")
    p = doc.get("probability")
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ProfileError(f"In the profile {where}, `{at}.probability` is {p!r}; give a "
                           "number from 0 to 1.")
    params = dict(op.params)
    for key, value in doc.items():
        if key in _RULE_KEYS:
            continue
        if key not in op.params:
            known = ", ".join(sorted(op.params)) or "none"
            raise ProfileError(f"In the profile {where}, `{at}.{key}` is not a parameter of "
                               f"the {name} operator (its parameters: {known}).")
        params[key] = _param(op.params[key], value, where, f"{at}.{key}",
                             op.choices.get(key), op.ranges.get(key))
    kinds = _globs(doc.get("kinds", []), where, f"{at}.kinds")
    for k in kinds:
        if k not in _KINDS:
            raise ProfileError(f"In the profile {where}, `{at}.kinds` holds {k!r}; use "
                               f"function, mcp or http.")
    return Rule(operator=name, probability=float(p), params=params,
                tools=_globs(doc.get("tools", ["*"]), where, f"{at}.tools"),
                exclude=_globs(doc.get("exclude", []), where, f"{at}.exclude"), kinds=kinds)


def _globs(value: Any, where: str, at: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"In the profile {where}, `{at}` must be a list of strings.")
    return tuple(value)


def _param(default: Any, value: Any, where: str, at: str, choices: Any,
           bounds: tuple[float, float] | None) -> Any:
    ok: bool
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ProfileError(f"In the profile {where}, `{at}` is {value!r}; it must be a "
                           f"{_type_name(default)} like the default {default!r}.")
    if choices and value not in choices:
        raise ProfileError(f"In the profile {where}, `{at}` is {value!r}; use one of "
                           f"{', '.join(map(str, choices))}.")
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise ProfileError(f"In the profile {where}, `{at}` is {value!r}; give a number from "
                           f"{bounds[0]:g} to {bounds[1]:g}.")
    return value


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, list):
        return "list"
    return "string"


def none_profile() -> Profile:
    return Profile(name="none", description="No perturbation: the recorded world as it was.")


__all__ = ["Applied", "PerturbContext", "Profile", "Rule", "builtin_names", "load_profile",
           "parse_profile", "perturb", "read_profile"]

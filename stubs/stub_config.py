"""Stub configuration: volatile fields, matchers and repeat policy, globally and per tool.

Loaded from TOML (`deploysim stubs build --stub-config stubs.toml`):

    repeat = "sequence"                      # sequence | cycle | first
    ignore_paths = ["$..request_id"]         # JSON paths of volatile argument fields
    ignore_keys = ["^_meta$"]                # key-name regexes dropped at any depth
    ignore_values = ['^\\d{4}-\\d\\d-\\d\\dT']   # string values replaced by <volatile>
    nearest_min_similarity = 0.75

    [tools."search*"]                        # a glob over tool labels or names
    repeat = "cycle"
    ignore_paths = ["$.page_token"]
    match_on = ["arguments"]
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from stubs.canonical import CanonicalRules
from stubs.errors import StubConfigError

REPEAT_POLICIES = ("sequence", "cycle", "first")


@dataclass(frozen=True)
class ToolConfig:
    """Settings for the tools whose label or name matches a pattern."""

    repeat: str | None = None
    """Repeat policy for these tools (overrides the global one)."""
    match_on: tuple[str, ...] | None = None
    """Matchers (see `stubs.matchers`) that make up the key; default `("arguments",)`."""
    rules: CanonicalRules = field(default_factory=lambda: CanonicalRules(ignore_keys=()))
    """Extra volatile fields for these tools, added to the global rules."""


@dataclass(frozen=True)
class ResolvedToolConfig:
    """What one tool ends up with after global and per-tool settings are combined."""

    repeat: str
    match_on: tuple[str, ...]
    rules: CanonicalRules


@dataclass(frozen=True)
class StubConfig:
    """Global stub settings plus per-tool overrides (first matching pattern wins)."""

    rules: CanonicalRules = field(default_factory=CanonicalRules)
    """Canonicalisation rules for every tool."""
    repeat: str = "sequence"
    """Default repeat policy: sequence (recorded order, then the last repeats), cycle, first."""
    match_on: tuple[str, ...] = ("arguments",)
    """Default matchers."""
    nearest_min_similarity: float = 0.75
    """The `nearest` layer answers only when the closest recorded call is at least this similar."""
    tools: tuple[tuple[str, ToolConfig], ...] = ()
    """Per-tool overrides as (glob pattern, settings), in file order."""

    def for_tool(self, label: str, name: str) -> ResolvedToolConfig:
        """The settings for one tool, matched by its label (`mcp:github/search`) or bare name."""
        for pattern, tc in self.tools:
            if fnmatch.fnmatchcase(label, pattern) or fnmatch.fnmatchcase(name, pattern):
                return ResolvedToolConfig(
                    repeat=tc.repeat or self.repeat,
                    match_on=tc.match_on or self.match_on,
                    rules=self.rules.merged(tc.rules),
                )
        return ResolvedToolConfig(self.repeat, self.match_on, self.rules)

    def spec(self) -> dict[str, Any]:
        """The configuration as plain JSON in the TOML file's layout (`from_dict` reads it back);
        recorded in run manifests and prebuilt indexes."""
        doc: dict[str, Any] = {
            "repeat": self.repeat,
            "match_on": list(self.match_on),
            "nearest_min_similarity": self.nearest_min_similarity,
            **_rules_spec(self.rules),
            "tools": {},
        }
        for pattern, tc in self.tools:
            body: dict[str, Any] = _rules_spec(tc.rules)
            if tc.repeat is not None:
                body["repeat"] = tc.repeat
            if tc.match_on is not None:
                body["match_on"] = list(tc.match_on)
            doc["tools"][pattern] = body
        return doc

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def load(cls, path: str) -> StubConfig:
        """Read a stub configuration TOML file; every mistake names the file and the field."""
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            raise StubConfigError(f"The stub config {path} does not exist; give a TOML file "
                                  "(see docs/stubs.md).") from None
        except tomllib.TOMLDecodeError as exc:
            raise StubConfigError(f"The stub config {path} is not valid TOML ({exc}); fix the "
                                  "syntax.") from None
        return cls.from_dict(doc, where=path)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], *, where: str = "the stub config") -> StubConfig:
        """Build from a parsed TOML/JSON document."""
        known = {"repeat", "match_on", "nearest_min_similarity", "tools", *_RULE_FIELDS}
        _no_unknown(doc, known, where, "")
        tools = doc.get("tools", {})
        if not isinstance(tools, dict):
            raise StubConfigError(f"In {where}, `tools` must be a table of tool patterns; "
                                  "write `[tools.\"NAME\"]` sections.")
        base = cls(
            rules=_rules(doc, CanonicalRules(), where, ""),
            repeat=_repeat(doc.get("repeat", "sequence"), where, "repeat"),
            match_on=_match_on(doc.get("match_on", ["arguments"]), where, "match_on"),
            nearest_min_similarity=_unit(doc.get("nearest_min_similarity", 0.75), where,
                                         "nearest_min_similarity"),
        )
        overrides = []
        for pattern, body in tools.items():
            at = f"tools.{pattern!r}"
            if not isinstance(body, dict):
                raise StubConfigError(f"In {where}, `{at}` must be a table; write "
                                      f"`[tools.\"{pattern}\"]` followed by its settings.")
            _no_unknown(body, {"repeat", "match_on", *_RULE_FIELDS}, where, at + ".")
            overrides.append((pattern, ToolConfig(
                repeat=_repeat(body["repeat"], where, at + ".repeat") if "repeat" in body
                else None,
                match_on=_match_on(body["match_on"], where, at + ".match_on")
                if "match_on" in body else None,
                rules=_rules(body, CanonicalRules(ignore_keys=()), where, at + "."),
            )))
        return replace(base, tools=tuple(overrides))


_RULE_FIELDS = ("ignore_paths", "ignore_keys", "ignore_values", "numeric_strings",
                "float_digits")


def _rules_spec(rules: CanonicalRules) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(rules).items()}


def _no_unknown(doc: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    for key in doc:
        if key not in known:
            raise StubConfigError(f"In {where}, the field `{prefix}{key}` is not a stub setting; "
                                  f"use one of {', '.join(sorted(known))}.")


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StubConfigError(f"In {where}, `{name}` must be a list of strings.")
    return tuple(value)


def _rules(doc: dict[str, Any], base: CanonicalRules, where: str, prefix: str) -> CanonicalRules:
    import re

    rules = base
    for name in ("ignore_paths", "ignore_keys", "ignore_values"):
        if name in doc:
            values = _strings(doc[name], where, prefix + name)
            if name != "ignore_paths":
                for v in values:
                    try:
                        re.compile(v)
                    except re.error as exc:
                        raise StubConfigError(f"In {where}, `{prefix}{name}` holds the regex "
                                              f"{v!r}, which does not compile ({exc}).") from None
            else:
                from stubs.jsonpath import PathPattern

                for v in values:
                    PathPattern(v)
            if name == "ignore_paths":
                rules = replace(rules, ignore_paths=values)
            elif name == "ignore_keys":
                rules = replace(rules, ignore_keys=values)
            else:
                rules = replace(rules, ignore_values=values)
    if "numeric_strings" in doc:
        if not isinstance(doc["numeric_strings"], bool):
            raise StubConfigError(f"In {where}, `{prefix}numeric_strings` must be true or false.")
        rules = replace(rules, numeric_strings=doc["numeric_strings"])
    if "float_digits" in doc:
        if not isinstance(doc["float_digits"], int) or not 1 <= doc["float_digits"] <= 17:
            raise StubConfigError(f"In {where}, `{prefix}float_digits` must be an integer "
                                  "from 1 to 17.")
        rules = replace(rules, float_digits=doc["float_digits"])
    return rules


def _repeat(value: Any, where: str, name: str) -> str:
    if value not in REPEAT_POLICIES:
        raise StubConfigError(f"In {where}, `{name}` is {value!r}; use one of "
                              f"{', '.join(REPEAT_POLICIES)}.")
    return str(value)


def _match_on(value: Any, where: str, name: str) -> tuple[str, ...]:
    from stubs.matchers import MATCHERS

    names = _strings(value, where, name)
    for n in names:
        if n not in MATCHERS:
            raise StubConfigError(f"In {where}, `{name}` names the unknown matcher {n!r}; use "
                                  f"one of {', '.join(sorted(MATCHERS))}.")
    if not names:
        raise StubConfigError(f"In {where}, `{name}` is empty; name at least one matcher.")
    return names


def _unit(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise StubConfigError(f"In {where}, `{name}` is {value!r}; give a number from 0 to 1.")
    return float(value)

"""Defaults every command takes from `deploysim.toml`: the config as click's `default_map`.

The root callback in deploysim/cli.py sets `ctx.default_map = default_map(config, command)`,
so an option left off the command line takes the config's value and one given on the command
line wins. Only parameters a command really has are filled: a renamed option simply stops
being defaulted, it never breaks the command. docs/config.md shows this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploysim.project.settings import DeploysimConfig

COMMAND_KEYS: dict[str, dict[str, str]] = {
    "replay": {"seed": "replay.seeds", "profile": "replay.profiles", "mode": "replay.mode",
               "miss": "replay.miss", "concurrency": "replay.concurrency",
               "samples": "replay.samples"},
    "serve": {"seed": "replay.seeds", "profile": "replay.profiles", "miss": "replay.miss"},
    "serve-stdio": {"seed": "replay.seeds", "profile": "replay.profiles",
                    "miss": "replay.miss"},
    "grade": {"rubric": "rubric"},
    "calibrate": {"rubric": "rubric", "observed": "observed"},
    "robustness": {"rubric": "rubric"},
    "predict": {"rubric": "rubric", "mix": "mix", "observed": "observed"},
    "gate": {"policy": "policy", "mix": "mix", "observed": "observed", "audit": "audit"},
    "review export": {"rubric": "rubric"},
    "audit *": {"db": "audit", "audit": "audit"},
    "run": {"config": "(the file itself)"},
}
"""command (`group sub`, `*` for every subcommand) -> {parameter name: config key}. A list
key (`replay.seeds`, `replay.profiles`) defaults the option only when it holds one value."""


def _value(config: DeploysimConfig, key: str) -> Any:
    obj: Any = config
    for part in key.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, list):
        return obj[0] if len(obj) == 1 else None
    return obj


def _params(command: Any) -> set[str]:
    return {p.name for p in getattr(command, "params", []) if p.name}


def _subcommands(command: Any) -> Mapping[str, Any]:
    return getattr(command, "commands", None) or {}


def default_map(config: DeploysimConfig, root: Any, config_path: str) -> dict[str, Any]:
    """click's default_map for the root group `root` (nested per subcommand)."""
    result: dict[str, Any] = {}
    for spec, keys in COMMAND_KEYS.items():
        group, _, sub = spec.partition(" ")
        command = _subcommands(root).get(group)
        if command is None:
            continue
        if not sub:
            targets = {group: command}
        elif sub == "*":
            targets = {f"{group} {n}": c for n, c in _subcommands(command).items()}
        else:
            found = _subcommands(command).get(sub)
            targets = {spec: found} if found is not None else {}
        for name, target in targets.items():
            values = {param: (config_path if key.startswith("(") else _value(config, key))
                      for param, key in keys.items() if param in _params(target)}
            values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            head, _, tail = name.partition(" ")
            slot = result.setdefault(head, {})
            if tail:
                slot.setdefault(tail, {}).update(values)
            else:
                slot.update(values)
    return result


SKIP = frozenset({"init", "schema", "demo"})
"""Commands that never read the config: `init` writes (or rewrites) a broken one; the demo
runs its own world whatever the working folder holds."""


def apply_defaults(ctx: Any, explicit: str | None) -> None:
    """The root callback's work: find and load the config and set `ctx.default_map`."""
    from deploysim.project.loading import NONE, find_config, load_config

    if ctx.invoked_subcommand in SKIP or ctx.resilient_parsing:
        return
    path = find_config(explicit)
    if path is None:
        if explicit is not None and explicit.strip().lower() == NONE:
            # `deploysim --config none run`: run finds its config itself, so tell it
            ctx.default_map = {"run": {"config": NONE}}
        return
    loaded = load_config(path)
    ctx.default_map = default_map(loaded.config, ctx.command, str(path))

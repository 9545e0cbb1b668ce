"""Finding and reading `deploysim.toml`.

Which file: `--config PATH` (on `deploysim` itself or on `deploysim run`), else the
`DEPLOYSIM_CONFIG` environment variable, else `./deploysim.toml` if it exists. `--config none`
or `DEPLOYSIM_CONFIG=none` reads no file at all (the demo uses it, so a config in the working
folder never changes what it runs).

A mistake in the file is one sentence naming the file, the line when it can be found, the key
and what to do; an unknown key is an error, never ignored (a typo would otherwise silently
fall back to a default).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from deploysim.project.settings import DeploysimConfig
from recorder.errors import UsageError

FILENAME = "deploysim.toml"
ENV = "DEPLOYSIM_CONFIG"
NONE = "none"
"""`--config none`: read no config file."""


class ConfigError(UsageError):
    """A `deploysim.toml` that cannot be found, parsed or validated."""


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with its paths resolved, and where it came from."""

    config: DeploysimConfig
    path: Path


def find_config(explicit: str | None = None, *, cwd: Path | None = None) -> Path | None:
    """The config file to read, or None (no file, or `none` asked for).

    An explicit path (option or environment) that does not exist is an error; a missing
    `./deploysim.toml` is not (most commands work without one)."""
    given, where = (explicit, "--config") if explicit else (os.environ.get(ENV), ENV)
    if given:
        if given.strip().lower() == NONE:
            return None
        path = Path(os.path.expanduser(given))
        if not path.is_file():
            raise ConfigError(f"{where} {given} is not a file; give the path of a "
                              f"{FILENAME} (`deploysim init` writes one) or `none`.")
        return path
    default = (cwd or Path.cwd()) / FILENAME
    return default if default.is_file() else None


def load_config(path: Path) -> LoadedConfig:
    """Read and validate `path`; paths inside are resolved against its folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path} ({exc}); give a readable UTF-8 {FILENAME}."
                          ) from exc
    return LoadedConfig(parse_config(text, path).resolved(str(path.resolve().parent)), path)


def parse_config(text: str, path: Path, *, lines: bool = True) -> DeploysimConfig:
    """Validate a config's text (`path` names it in errors, with the line when `lines`);
    paths are left as written."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix that line.") from exc
    try:
        return DeploysimConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path, text if lines else "")) from exc


def _explain(exc: ValidationError, path: Path, text: str) -> str:
    """The first problem as one sentence: file, line, key, what is wrong, what to do."""
    errors = exc.errors()
    # a misspelt key also leaves the real one missing: the unknown key is the useful news
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in first["loc"] if not isinstance(p, int)]
    key = ".".join(loc) or "(top level)"
    line = key_line(text, loc)
    where = f"{path} line {line}" if line else str(path)
    if first["type"] == "extra_forbidden":
        return (f"{where}: unknown key {key!r}; remove it or fix its spelling (the keys are "
                "listed in docs/config.md and by `deploysim schema config`).")
    if first["type"] == "missing":
        return (f"{where}: {key!r} is missing; add it (`deploysim init` writes a complete "
                "file).")
    msg = first["msg"].removeprefix("Value error, ")
    return f"{where}: {key} {msg[:1].lower()}{msg[1:]}; fix it (see docs/config.md)."


_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*\"?([A-Za-z0-9_\-]+)\"?\s*=")


def key_line(text: str, loc: list[str]) -> int | None:
    """1-based line where the key `loc` (table path + key) is written, or where its table
    starts when the key itself is missing; None when it cannot be told (inline tables)."""
    if not loc:
        return None
    *table, key = loc
    current: list[str] = []
    table_line = None
    for n, line in enumerate(text.splitlines(), start=1):
        m = _TABLE.match(line)
        if m:
            current = [p.strip().strip('"') for p in m.group(1).split(".")]
            if current == loc:
                return n  # the key is a table: its header
            if current == table:
                table_line = n
            continue
        m = _KEY.match(line)
        if m and current == table and m.group(1) == key:
            return n
    return table_line

"""Regexes in rubrics: flags (`flags = "i"` or `["ignorecase", "multiline"]`), compilation
with errors that read well after a field name, and the base of detector setting tables."""

from __future__ import annotations

import re

from pydantic import ValidationInfo

_FLAG_LETTERS = {"i": re.I, "m": re.M, "s": re.S, "x": re.X, "a": re.A}
_FLAG_NAMES = {"ignorecase": re.I, "multiline": re.M, "dotall": re.S, "verbose": re.X,
               "ascii": re.A}

Flags = str | list[str]


def parse_flags(flags: Flags) -> int:
    """`"im"` or `["ignorecase", "multiline"]` as `re` flags; ValueError names a bad one."""
    items = list(flags) if isinstance(flags, str) else flags
    out = 0
    for f in items:
        key = f.lower()
        val = _FLAG_LETTERS.get(key) if isinstance(flags, str) else _FLAG_NAMES.get(key,
                                                                              _FLAG_LETTERS.get(key))
        if val is None:
            raise ValueError(f"has an unknown regex flag {f!r} (use letters i, m, s, x, a or "
                             "names ignorecase, multiline, dotall, verbose, ascii)")
        out |= val
    return out


def compile_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile, turning `re.error` into a ValueError that reads well after a field name."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc})") from None


def flags_of(info: ValidationInfo) -> int:
    """The `flags` a model validated before the field being checked (0 when bad)."""
    try:
        return parse_flags(info.data.get("flags", ""))
    except ValueError:
        return 0


def check_regex(value: str | None, info: ValidationInfo) -> str | None:
    """Field validator body: the pattern must compile with the model's `flags`."""
    if value is not None:
        compile_regex(value, flags_of(info))
    return value

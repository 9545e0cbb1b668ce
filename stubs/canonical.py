"""Canonical arguments: two calls that mean the same thing get the same key.

Rules (all configurable through `CanonicalRules`): object keys are sorted; strings are NFC
normalised with whitespace trimmed and runs collapsed; integral floats become ints and other
floats keep 12 significant digits; numeric strings such as "10" equal the number 10 (models
write both); volatile fields are dropped by JSON path (`$.request_id`, `$..timestamp`) or by key
regex, and string values matching a volatile regex (UUIDs, timestamps) become `<volatile>`.

One walk (`Canonicalizer.value`) makes the canonical form, a JSON value; the rest writes it
out. `text` gives compact, sorted JSON text. `freeze` gives nested tuples that hash (the key
material of matchers): every container is tagged by its first element (`DICT` or `LIST`), so an
object and a list never collide, and an object is flat — `(DICT, k1, .., kn, v1, .., vn)`, keys
sorted. `thaw` turns a frozen form back into JSON for display, similarity and diagnostics.

The index keys a call by `key`: the canonical form as compact JSON bytes with sorted keys
(orjson). That makes the lookup hot path one C call: `raw_key` dumps the arguments *as sent*
the same way, and when those bytes are a recorded key the call is that key — the canonical
form is idempotent (canonicalising a canonical value changes nothing), so arguments equal to a
canonical value have that value as their canonical form. Only arguments that differ from their
canonical form (extra whitespace, "10" for 10, a volatile field) take the canonicalising walk.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from stubs.jsonpath import PathPart, PathPattern

VOLATILE = "<volatile>"
DICT = "\x00dict"
LIST = "\x00list"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_SORTED = orjson.OPT_SORT_KEYS
# `raw_key` leaves to the canonicalising walk every type orjson would write in a form the walk
# does not produce: dataclasses, dates and subclasses of builtins (dict, str, int) raise instead
_RAW_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
                | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS)


@dataclass(frozen=True)
class CanonicalRules:
    """How arguments are normalised before they are keyed."""

    ignore_paths: tuple[str, ...] = ()
    """JSON paths of volatile fields to drop, e.g. `$.request_id`, `$..timestamp`."""
    ignore_keys: tuple[str, ...] = ("^_meta$",)
    """Regexes on key names dropped at any depth (MCP `_meta` by default)."""
    ignore_values: tuple[str, ...] = ()
    """Regexes on whole string values replaced by `<volatile>` (ids, timestamps)."""
    numeric_strings: bool = True
    """Treat "10" and 10 as the same argument."""
    float_digits: int = 12
    """Significant digits kept for non-integral floats."""

    def merged(self, other: CanonicalRules) -> CanonicalRules:
        """These rules plus another set's volatile fields (a tool's own config)."""
        return CanonicalRules(
            ignore_paths=tuple(dict.fromkeys(self.ignore_paths + other.ignore_paths)),
            ignore_keys=tuple(dict.fromkeys(self.ignore_keys + other.ignore_keys)),
            ignore_values=tuple(dict.fromkeys(self.ignore_values + other.ignore_values)),
            numeric_strings=other.numeric_strings and self.numeric_strings,
            float_digits=min(self.float_digits, other.float_digits),
        )


def parse_arguments(value: Any) -> tuple[Any, bool]:
    """Arguments as JSON, and whether they were JSON: a str that parses becomes its value."""
    if isinstance(value, str):
        try:
            return json.loads(value), True
        except ValueError:
            return value, False
    if isinstance(value, bytes):
        return parse_arguments(value.decode("utf-8", "replace"))
    return value, True


class Canonicalizer:
    """Applies one set of `CanonicalRules`; compiled once, called for every call and query.

    One walk (`value`) makes the canonical form; `key`, `text` and `freeze` are that form
    written as bytes, as text and as nested tuples.

    >>> c = Canonicalizer(CanonicalRules())
    >>> c.text({"b": " x  y ", "a": 1.0}) == c.text({"a": "1", "b": "x y"})
    True
    """

    def __init__(self, rules: CanonicalRules) -> None:
        self.rules = rules
        self._paths = [PathPattern(p) for p in rules.ignore_paths]
        self._keys = re.compile("|".join(f"(?:{k})" for k in rules.ignore_keys)) \
            if rules.ignore_keys else None
        self._values = re.compile("|".join(f"(?:{v})" for v in rules.ignore_values)) \
            if rules.ignore_values else None
        self._digits = rules.float_digits
        self._numeric = rules.numeric_strings
        self._dropped_keys: dict[str, bool] = {}
        """Whether each object key seen is volatile: keys repeat across calls, and matching
        the key regexes again for each would be most of a walk."""

    def value(self, obj: Any) -> Any:
        """The canonical form as a JSON value (its objects' keys in no particular order)."""
        return self._walk(obj, ())

    def key(self, obj: Any) -> Hashable:
        """The lookup key of the default matcher: the canonical form as compact JSON bytes with
        sorted keys, which `raw_key` of equal arguments reproduces (the frozen form itself when
        orjson cannot write it: integers beyond 64 bits, lone surrogates)."""
        value = self.value(obj)
        try:
            # a copy: orjson's bytes keep its whole (4 KB) write buffer, and an index keeps
            # a key per recorded call
            return memoryview(orjson.dumps(value, option=_SORTED)).tobytes()
        except TypeError:
            return freeze_value(value)

    def freeze(self, obj: Any) -> Hashable:
        """The canonical form as a hashable value (the key material of matchers)."""
        return freeze_value(self.value(obj))

    def text(self, obj: Any) -> str:
        """The canonical form as compact JSON text with sorted keys."""
        return dumps(self.value(obj))

    @property
    def raw_keys(self) -> bool:
        """Whether `raw_key` may stand in for `key` on a hit: not with volatile JSON paths, which
        can name list positions (dropping `$.items[0]` twice drops two items), so only there
        is canonicalising not idempotent."""
        return not self._paths

    def _walk(self, obj: Any, path: tuple[PathPart, ...]) -> Any:
        if isinstance(obj, Enum):  # by value, as JSON writers (orjson) write members
            return self._walk(obj.value, path)
        if isinstance(obj, dict):  # subclasses (OrderedDict...) as the objects they are
            out = {}
            for k, v in obj.items():
                k = k if type(k) is str else str(k)  # JSON keys are strings
                sub = (*path, k)
                if self._drops_key(k) or self._drops_path(sub):
                    continue
                out[k] = self._walk(v, sub)
            return out
        if isinstance(obj, list | tuple):  # and named tuples as lists
            return [self._walk(v, (*path, i)) for i, v in enumerate(obj)
                    if not self._drops_path((*path, i))]
        if isinstance(obj, str):
            return self._string(obj)
        return self._scalar(obj)

    def _drops_key(self, key: str) -> bool:
        if self._keys is None:
            return False
        drop = self._dropped_keys.get(key)
        if drop is None:
            drop = self._keys.search(key) is not None
            if len(self._dropped_keys) < 100_000:  # bounded: keys are not always names
                self._dropped_keys[key] = drop
        return drop

    def _drops_path(self, path: tuple[PathPart, ...]) -> bool:
        return any(p.matches(path) for p in self._paths)

    def _string(self, s: str) -> Any:
        if not s.isascii():
            s = unicodedata.normalize("NFC", s)
        parts = s.split()
        s = parts[0] if len(parts) == 1 else " ".join(parts)
        if self._values is not None and self._values.fullmatch(s):
            return VOLATILE
        if self._numeric and s and (s[0].isdigit() or s[0] == "-") and _NUMBER.match(s):
            return self._scalar(float(s) if ("." in s or "e" in s or "E" in s) else int(s))
        return s

    def _scalar(self, x: Any) -> Any:
        if x is None or x is True or x is False:
            return x
        if isinstance(x, int):
            return int(x)
        if isinstance(x, float):
            if math.isnan(x) or math.isinf(x):
                return self._string(repr(x))  # as the text "nan" would (volatile rules too)
            if x.is_integer() and abs(x) < 2**53:
                return int(x)
            # a float that rounds to an integer keys as that integer, as the integer itself
            # does (2.9999999999999996 as 3, not 3.0), and one that would round past the
            # largest float keeps its value: canonicalising stays idempotent
            y = float(f"{x:.{self._digits}g}")
            if math.isinf(y):
                return x
            return int(y) if y.is_integer() and abs(y) < 2**53 else y
        if isinstance(x, bytes):
            return self._string(x.decode("utf-8", "replace"))
        return self._string(str(x))


def raw_key(obj: Any) -> bytes | None:
    """Arguments as sent, dumped the way `Canonicalizer.key` dumps a canonical form: a recorded
    key when the arguments already are canonical. None when they cannot stand for their
    canonical form without the walk: types orjson rejects or writes its own way, and NaN or
    infinity, which orjson writes as null. (Arguments are JSON values; from Python callers,
    enum members count as their values, and an `orjson.Fragment` — raw JSON orjson pastes in
    unread — is outside the contract.)"""
    try:
        raw = orjson.dumps(obj, option=_RAW_OPTIONS)
    except TypeError:
        return None
    # `bytes.find`, not `in`: on CPython 3.12 the operator costs three times as much
    return None if raw.find(b"null") >= 0 and _nonfinite(obj) else raw


def _nonfinite(obj: Any) -> bool:
    """Whether a NaN or an infinity is anywhere in a JSON value (only containers and floats
    are looked into: nothing else orjson writes can hold one)."""
    if isinstance(obj, Enum):  # orjson writes a member's value
        obj = obj.value
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        obj = obj.values()
    elif not isinstance(obj, list | tuple):
        return False
    for v in obj:
        if isinstance(v, float):
            if not math.isfinite(v):
                return True
        elif isinstance(v, dict | list | tuple | Enum) and _nonfinite(v):
            return True
    return False


def freeze_value(value: Any) -> Hashable:
    """A canonical JSON value as its frozen form (`thaw` undoes it)."""
    if isinstance(value, dict):
        keys = sorted(value)
        return (DICT, *keys, *(freeze_value(value[k]) for k in keys))
    if isinstance(value, list):
        return (LIST, *(freeze_value(v) for v in value))
    return value


def thaw(frozen: Any) -> Any:
    """A frozen canonical form back as a JSON value."""
    if type(frozen) is tuple and frozen:
        if frozen[0] == DICT:
            n = (len(frozen) - 1) // 2
            return {k: thaw(v) for k, v in zip(frozen[1:n + 1], frozen[n + 1:], strict=True)}
        if frozen[0] == LIST:
            return [thaw(v) for v in frozen[1:]]
    return frozen


def dumps(value: Any) -> str:
    """Compact, sorted, stable JSON text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)

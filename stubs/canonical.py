"""Canonical arguments: two calls that mean the same thing get the same key.

Rules (all configurable through `CanonicalRules`): object keys are sorted; strings are NFC
normalised with whitespace trimmed and runs collapsed; integral floats become ints and other
floats keep 12 significant digits; numeric strings such as "10" equal the number 10 (models
write both); volatile fields are dropped by JSON path (`$.request_id`, `$..timestamp`) or by key
regex, and string values matching a volatile regex (UUIDs, timestamps) become `<volatile>`.

The canonical form is *frozen*: nested tuples that hash and compare in C, so a lookup is one walk
and one dict probe. Every container is tagged by its first element (`DICT` or `LIST`), so an
object and a list never collide; an object is flat — `(DICT, k1, .., kn, v1, .., vn)`, keys
sorted — which allocates and dereferences less than a tuple of pairs. `thaw` turns a frozen
form back into JSON for display, similarity and diagnostics; `text` gives the compact, sorted
JSON text.

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
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from stubs.jsonpath import PathPart, PathPattern

VOLATILE = "<volatile>"
DICT = "\x00dict"
LIST = "\x00list"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
# Strings already in canonical form: ASCII, no leading, trailing or repeated whitespace, no tab
# or newline, and not starting like a number. Most argument values are; matching them with one
# C-level regex call skips the per-string Python work on the hot path.
_SORTED = orjson.OPT_SORT_KEYS
# `raw_key` leaves to the canonicalising walk every type orjson would write in a form the walk
# does not produce: dataclasses, dates and subclasses of builtins (dict, str, int) raise instead
RAW_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
               | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS)
_PLAIN = re.compile(r"[A-Za-z_/.:@#$%&*+=<>?!~^|\\'\"(){}\[\],;][!-~]*(?: [!-~]+)*\Z", re.ASCII)


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


class NonStringKey(Exception):
    """Raised by the fast walks (`Canonicalizer.fast_freeze`, the value walk behind `key`) on
    a dict with a non-string key (only Python callers make those); they then take the general
    walk."""


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
        self._kept: set[str] = set()
        # with volatile-value regexes every string must be checked, so none is "plain"
        self._plain = _PLAIN.match if self._values is None else _never
        self.fast_freeze: Callable[[Any], Any] | None = self._walker() if not self._paths \
            else None
        """`freeze` without the safety net, for the lookup hot path: None when volatile JSON
        paths are configured; raises `NonStringKey` where `freeze` would fall back."""
        self._fast_value: Callable[[Any], Any] | None = self._value_walker() \
            if not self._paths else None

    def freeze(self, obj: Any) -> Hashable:
        """The canonical form as a hashable value (the lookup key material)."""
        if self.fast_freeze is not None:
            try:
                return self.fast_freeze(obj)
            except (NonStringKey, TypeError):
                pass  # a Python caller's dict with int keys: take the general walk
        return self._walk_paths(obj, ())

    def key(self, obj: Any) -> Hashable:
        """The lookup key of the default matcher: the canonical form as compact JSON bytes with
        sorted keys, which `raw_key` of equal arguments reproduces (the frozen form itself when
        orjson cannot write it: integers beyond 64 bits, lone surrogates)."""
        try:
            # a copy: orjson's bytes keep its whole (4 KB) write buffer, and an index keeps
            # a key per recorded call
            return memoryview(orjson.dumps(self.value(obj), option=_SORTED)).tobytes()
        except TypeError:
            return self.freeze(obj)

    @property
    def raw_keys(self) -> bool:
        """Whether `raw_key` may stand in for `key` on a hit: not with volatile JSON paths, which
        can name list positions (dropping `$.items[0]` twice drops two items), so only there
        is canonicalising not idempotent."""
        return not self._paths

    def value(self, obj: Any) -> Any:
        """The canonical form as a JSON value (its objects' keys in no particular order)."""
        if self._fast_value is not None:
            try:
                return self._fast_value(obj)
            except (NonStringKey, TypeError):
                pass  # a Python caller's dict with int keys: take the general walk
        return thaw(self.freeze(obj))

    def text(self, obj: Any) -> str:
        """The canonical form as compact JSON text with sorted keys."""
        return dumps(self.value(obj))

    def _walker(self) -> Callable[[Any], Any]:
        """The hot path of every lookup, as a closure: type dispatch by identity, no per-node
        path tuples, key-drop decisions memoised (keys repeat across calls; regexes are slow),
        strings already canonical, ints and nulls passed through without a call."""
        kept, keep, plain = self._kept, self._keep, self._plain
        string, scalar = self._string, self._scalar

        def walk(obj: Any) -> Any:
            t = type(obj)
            if t is dict:
                keys = sorted(obj)
                if not kept.issuperset(keys):
                    keys = [k for k in keys if keep(k)]
                return (DICT, *keys, *[v if (type(v) is str and plain(v)) or type(v) is int
                                       or v is None else walk(v)
                                       for v in map(obj.__getitem__, keys)])
            if t is str:
                return string(obj)
            if t is list or t is tuple:
                return (LIST, *map(walk, obj))
            if isinstance(obj, dict):  # subclasses (OrderedDict...) as the objects they are
                return walk(dict(obj))
            if isinstance(obj, list | tuple):  # and named tuples as lists, as `_walk_paths`
                return walk(list(obj))
            return scalar(obj)

        return walk

    def _value_walker(self) -> Callable[[Any], Any]:
        """`_walker`'s twin that builds the canonical JSON value itself rather than its frozen
        form (what `key` writes out; `thaw` of `freeze` without the tuples in between)."""
        kept, keep, plain = self._kept, self._keep, self._plain
        string, scalar = self._string, self._scalar

        def walk(obj: Any) -> Any:
            t = type(obj)
            if t is dict:
                keys = obj if kept.issuperset(obj) else [k for k in obj if keep(k)]
                return {k: v if (type(v) is str and plain(v)) or type(v) is int or v is None
                        else walk(v) for k, v in zip(keys, map(obj.__getitem__, keys),
                                                     strict=True)}
            if t is str:
                return string(obj)
            if t is list or t is tuple:
                return [*map(walk, obj)]
            if isinstance(obj, dict):
                return walk(dict(obj))
            if isinstance(obj, list | tuple):
                return walk(list(obj))
            if isinstance(obj, Enum):
                return walk(obj.value)
            return scalar(obj)

        return walk

    def _keep(self, key: Any) -> bool:
        if type(key) is not str:
            raise NonStringKey  # JSON keys are strings; others go through `_walk_paths`
        keep = self._keys is None or not self._keys.search(key)
        if keep and len(self._kept) < 100_000:
            self._kept.add(key)
        return keep

    def _walk_paths(self, obj: Any, path: tuple[PathPart, ...]) -> Any:
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                sub = (*path, str(k))
                if self._keys is not None and self._keys.search(str(k)):
                    continue
                if any(p.matches(sub) for p in self._paths):
                    continue
                items.append((str(k), self._walk_paths(v, sub)))
            items.sort(key=lambda kv: kv[0])
            return (DICT, *(k for k, _ in items), *(v for _, v in items))
        if isinstance(obj, list | tuple):
            return (LIST, *(self._walk_paths(v, (*path, i)) for i, v in enumerate(obj)
                            if not any(p.matches((*path, i)) for p in self._paths)))
        if isinstance(obj, str):
            return self._string(obj)
        return self._scalar(obj)

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
        if isinstance(x, Enum):  # by value, as JSON writers (orjson) write members
            return self.freeze(x.value)
        return self._string(str(x))


def raw_key(obj: Any) -> bytes | None:
    """Arguments as sent, dumped the way `Canonicalizer.key` dumps a canonical form: a recorded
    key when the arguments already are canonical. None when they cannot stand for their
    canonical form without the walk: types orjson rejects or writes its own way, and NaN or
    infinity, which orjson writes as null. (Arguments are JSON values; from Python callers,
    enum members count as their values, and an `orjson.Fragment` — raw JSON orjson pastes in
    unread — is outside the contract.) `StubIndex.lookup_call` spells this out inline: keep the
    two in step."""
    try:
        raw = orjson.dumps(obj, option=RAW_OPTIONS)
    except TypeError:
        return None
    return None if nonfinite_as_null(raw, obj) else raw


def nonfinite_as_null(raw: bytes, obj: Any) -> bool:
    """Whether orjson wrote a NaN or an infinity of `obj` as null in `raw` (its dump): then
    `raw` is not the key of `obj`, which writes them as text. (`bytes.find`, not `in`: on
    CPython 3.12 the operator costs three times as much.)"""
    return raw.find(b"null") >= 0 and _nonfinite(obj)


def _nonfinite(obj: Any) -> bool:
    """Whether a NaN or an infinity is anywhere in a JSON value (only containers and floats
    are looked into: nothing else orjson writes can hold one)."""
    t = type(obj)
    if t is float:
        return not math.isfinite(obj)
    if t is dict:
        obj = obj.values()
    elif t is not list and t is not tuple:
        return isinstance(obj, Enum) and _nonfinite(obj.value)  # orjson writes the value
    for v in obj:
        t = type(v)
        if t is float:
            if not math.isfinite(v):
                return True
        elif (t is dict or t is list or t is tuple or isinstance(v, Enum)) and _nonfinite(v):
            return True
    return False


def _never(s: str) -> None:
    return None


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

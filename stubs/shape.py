"""Response shapes: what a tool's recorded responses look like, inferred from the responses.

A `Shape` accumulates JSON values and keeps, per node: the JSON types seen (with counts), for
objects each key's shape and how often it was present (present every time = required), for
arrays the item shape and the length range, for strings the length range, a detected format
(date-time, date, uuid, email, uri, ipv4, hex, integer), an enum when few distinct values repeat,
words to draw text from, and a nested shape for strings that hold JSON; for numbers the range and
whether they were all integers. `deploysim stubs show` prints shapes; `synthesize` generates from
them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from stubs.similarity import json_type

FORMATS: dict[str, re.Pattern[str]] = {
    "date-time": re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?"),
    "date": re.compile(r"\d{4}-\d\d-\d\d"),
    "uuid": re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{12}"),
    "email": re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"),
    "uri": re.compile(r"https?://[^\s]+"),
    "ipv4": re.compile(r"(\d{1,3}\.){3}\d{1,3}"),
    "integer": re.compile(r"-?\d+"),
    "hex": re.compile(r"[0-9a-f]{8,}"),
}
_MAX_DISTINCT = 32
_MAX_SAMPLES = 256  # recorded values kept per node to draw numbers and dates from
_MAX_WORDS = 400
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def detect_format(s: str) -> str | None:
    for name, pattern in FORMATS.items():
        if pattern.fullmatch(s):
            return name
    return None


class Shape:
    """The inferred shape of a set of JSON values (see the module docstring)."""

    def __init__(self) -> None:
        self.count = 0
        self.types: Counter[str] = Counter()
        self.keys: dict[str, Shape] = {}
        self.items: Shape | None = None
        self.min_items = self.max_items = 0
        self.values: Counter[Any] = Counter()
        self.too_many_values = False
        self.formats: Counter[str | None] = Counter()
        self.min_length = self.max_length = 0
        self.words: dict[str, None] = {}
        self.json: Shape | None = None
        self.minimum: float = 0
        self.maximum: float = 0
        self.integers = True
        self.decimals = 0
        self.samples: list[Any] = []
        """Recorded numbers and date strings, thinned evenly once there are too many: what
        synthetic values are drawn from, so they follow the recorded distribution."""
        self._stride = 1
        self._sampled = 0

    def add(self, value: Any) -> Shape:
        t = json_type(value)
        first_of_type = self.types[t] == 0
        self.count += 1
        self.types[t] += 1
        if t == "object":
            for k, v in value.items():
                self.keys.setdefault(str(k), Shape()).add(v)
        elif t == "array":
            n = len(value)
            self.min_items = n if first_of_type else min(self.min_items, n)
            self.max_items = n if first_of_type else max(self.max_items, n)
            if self.items is None:
                self.items = Shape()
            for v in value:
                self.items.add(v)
        elif t == "string":
            self._add_string(value, first_of_type)
        elif t in ("number", "boolean"):
            self._add_value(value)
            if t == "number":
                self._sample(value)
                self.minimum = value if first_of_type else min(self.minimum, value)
                self.maximum = value if first_of_type else max(self.maximum, value)
                if isinstance(value, float):
                    self.integers = False
                    text = repr(value)
                    if "." in text and "e" not in text:
                        self.decimals = max(self.decimals, len(text.split(".")[1]))
        return self

    def _sample(self, value: Any) -> None:
        # deterministic thinning: keep every `stride`-th value, halving the kept ones (and
        # doubling the stride) when full, so the kept values spread over all that was added
        if self._sampled % self._stride == 0:
            self.samples.append(value)
            if len(self.samples) >= 2 * _MAX_SAMPLES:
                self.samples = self.samples[::2]
                self._stride *= 2
        self._sampled += 1

    def _add_value(self, value: Any) -> None:
        if self.too_many_values:
            return
        self.values[value] += 1
        if len(self.values) > _MAX_DISTINCT:
            self.too_many_values = True

    def _add_string(self, s: str, first: bool) -> None:
        n = len(s)
        self.min_length = n if first else min(self.min_length, n)
        self.max_length = n if first else max(self.max_length, n)
        self._add_value(s)
        fmt = detect_format(s)
        self.formats[fmt] += 1
        if fmt in ("date-time", "date"):
            self._sample(s)
        if fmt is None and len(self.words) < _MAX_WORDS:
            for w in _WORD.findall(s)[:_MAX_WORDS]:
                self.words.setdefault(w, None)
        stripped = s.strip()
        if stripped[:1] in ("{", "["):
            try:
                inner = json.loads(stripped)
            except ValueError:
                return
            if self.json is None:
                self.json = Shape()
            self.json.add(inner)

    # -- reading the shape ----------------------------------------------------------------

    @property
    def type(self) -> str:
        """The most common JSON type."""
        return self.types.most_common(1)[0][0] if self.types else "null"

    def required(self) -> list[str]:
        objects = self.types["object"]
        return [k for k, s in self.keys.items() if s.count >= objects]

    def enum(self) -> list[Any] | None:
        """The values, when few distinct ones repeat (a closed set), else None."""
        if self.too_many_values or not self.values:
            return None
        n = sum(self.values.values())
        if len(self.values) <= 10 and n >= 2 * len(self.values):
            return [v for v, _ in self.values.most_common()]
        return None

    def format(self) -> str | None:
        fmt, n = self.formats.most_common(1)[0] if self.formats else (None, 0)
        return fmt if fmt is not None and n == sum(self.formats.values()) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-Schema-like description (stable; printed by `deploysim stubs show --json`)."""
        out: dict[str, Any] = {"type": self.type if len(self.types) <= 1
                               else sorted(self.types), "seen": self.count}
        t = self.type
        if t == "object":
            out["properties"] = {k: s.to_dict() for k, s in self.keys.items()}
            out["required"] = self.required()
        elif t == "array":
            out["minItems"], out["maxItems"] = self.min_items, self.max_items
            if self.items is not None and self.items.count:
                out["items"] = self.items.to_dict()
        elif t == "string":
            out["minLength"], out["maxLength"] = self.min_length, self.max_length
            if self.format():
                out["format"] = self.format()
            if self.json is not None and self.json.count == self.types["string"]:
                out["contentSchema"] = self.json.to_dict()
        elif t == "number":
            out["type"] = "integer" if self.integers else "number"
            out["minimum"], out["maximum"] = self.minimum, self.maximum
        enum = self.enum()
        if enum is not None and t in ("string", "number"):
            out["enum"] = enum
        return out

    def describe(self, depth: int = 0) -> str:
        """A one-line summary, e.g. `{city: string, temp: integer[-5..31], tags: [string]0..4}`."""
        if self.count == 0:
            return "nothing"
        t = self.type
        nullable = "?" if self.types["null"] and t != "null" else ""
        enum = self.enum()
        if enum is not None and t in ("string", "number"):
            shown = "|".join(_short(v) for v in enum[:5]) + ("|…" if len(enum) > 5 else "")
            return f"enum({shown}){nullable}"
        if t == "object":
            if depth >= 2:
                return "{…}" + nullable
            req = set(self.required())
            parts = [f"{k}{'' if k in req else '?'}: {s.describe(depth + 1)}"
                     for k, s in list(self.keys.items())[:12]]
            more = ", …" if len(self.keys) > 12 else ""
            return "{" + ", ".join(parts) + more + "}" + nullable
        if t == "array":
            inner = self.items.describe(depth + 1) if self.items and self.items.count else ""
            return f"[{inner}]{self.min_items}..{self.max_items}{nullable}"
        if t == "string":
            if self.json is not None and self.json.count == self.types["string"]:
                return f"json-string {self.json.describe(depth)}"
            fmt = self.format()
            return f"string({fmt}){nullable}" if fmt else \
                f"string[{self.min_length}..{self.max_length}]{nullable}"
        if t == "number":
            kind = "integer" if self.integers else "number"
            return f"{kind}[{self.minimum:g}..{self.maximum:g}]{nullable}"
        return t + nullable


def _short(v: Any, n: int = 24) -> str:
    s = " ".join(str(v).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def infer(values: list[Any]) -> Shape:
    shape = Shape()
    for v in values:
        shape.add(v)
    return shape

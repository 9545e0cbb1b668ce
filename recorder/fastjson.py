"""JSON decoding for the hot paths: `orjson` where it gives exactly what `json.loads` gives.

    >>> loads(b'{"a": [1, 2.5, "x"]}')
    {'a': [1, 2.5, 'x']}

Parsing recorded traffic decodes every request body, every SSE event and every tool-call
argument string; `orjson` does that several times faster than the standard library. Its
results are the same Python values for every document it accepts except one: an integer
outside the 64-bit range silently becomes a float (`json` keeps an exact `int`). So any
document holding a run of 19 or more digits, and anything `orjson` rejects (NaN, Infinity,
numbers that overflow a float, lone surrogate escapes, invalid UTF-8 ...), goes to `json.loads`,
which then accepts it or raises exactly the error callers have always seen.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

# every digit → "0", every other byte → " ": a run of 19 digits becomes one `find`
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19

MISS: Final = object()
"""What `try_loads` returns when only `json.loads` can give the exact answer."""


def try_loads(raw: bytes) -> Any:
    """The value of the UTF-8 JSON document `raw` when `orjson` gives exactly what
    `json.loads(raw.decode("utf-8"))` would, else `MISS` (never raises)."""
    if raw.translate(_DIGITS).find(_LONG_RUN) >= 0:
        return MISS
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return MISS


def loads(data: bytes | str) -> Any:
    """`json.loads(data)` (bytes are decoded as UTF-8 first), computed with `orjson` when that
    is exact. Raises what `json.loads` raises (`ValueError`s) on invalid JSON or UTF-8."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: orjson rejects them, json keeps them
            return json.loads(data)
    else:
        raw = data
    value = try_loads(raw)
    if value is not MISS:
        return value
    return json.loads(data if isinstance(data, str) else data.decode("utf-8"))

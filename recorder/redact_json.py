"""JSON for redaction: the values a path names in a document, the values held under
secret-named keys (in parsed JSON, and in raw JSON whose keys are spelled with `\\u` escapes),
and replacing them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any


def json_documents(data: bytes) -> list[Any]:
    """The JSON documents of a body: one per line (`data:` prefixes of SSE removed)."""
    docs = []
    for line in data.splitlines():
        line = line.strip()
        if line.startswith(b"data:"):
            line = line[5:].strip()
        if line[:1] in (b"{", b"["):
            try:
                docs.append(json.loads(line))
            except ValueError:
                continue
    return docs


def at_path(doc: Any, path: tuple[str, ...], key: str | None) -> list[tuple[str | None, Any]]:
    """(last key, value) of everything `path` names in `doc` (`*` = any key or index)."""
    if not path:
        return [(key, doc)]
    head, rest = path[0], path[1:]
    found: list[tuple[str | None, Any]] = []
    if isinstance(doc, dict):
        items = doc.items() if head == "*" else ([(head, doc[head])] if head in doc else [])
        for k, v in items:
            found.extend(at_path(v, rest, k))
    elif isinstance(doc, list):
        if head == "*":
            for v in doc:
                found.extend(at_path(v, rest, key))
        elif head.isdigit() and int(head) < len(doc):
            found.extend(at_path(doc[int(head)], rest, key))
    return found


def leaves(value: Any, key: str | None, strings: set[str], numbers: set[tuple[str, str]]) -> None:
    """Collect the string leaves, and the numbers with the key they sit under."""
    if isinstance(value, str):
        strings.add(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        if key is not None:
            numbers.add((key, json.dumps(value)))
    elif isinstance(value, dict):
        for k, v in value.items():
            leaves(v, k, strings, numbers)
    elif isinstance(value, list):
        for v in value:
            leaves(v, key, strings, numbers)


def replace_at_path(doc: Any, path: tuple[str, ...], fn: Callable[[Any], Any]) -> Any:
    """A copy of `doc` with every value `path` names replaced by `fn(value)`."""
    if not path:
        return fn(doc) if doc is not None else doc
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (replace_at_path(v, rest, fn) if head in ("*", k) else v)
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [(replace_at_path(v, rest, fn) if head == "*" or head == str(i) else v)
                for i, v in enumerate(doc)]
    return doc


def walk_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A copy of `value` with `fn` applied to every string in it."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: walk_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [walk_strings(v, fn) for v in value]
    return value


def replace_keyed(value: Any, is_key: Callable[[str], bool], fn: Callable[[str], str]) -> Any:
    """A copy of `value` with every string held directly under a key `is_key` accepts (in an
    object, or in a list under such a key) replaced by `fn(string)`."""
    if isinstance(value, dict):
        return {k: (_replace_all(v, fn) if isinstance(k, str) and is_key(k)
                    else replace_keyed(v, is_key, fn)) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_keyed(v, is_key, fn) for v in value]
    return value


def _replace_all(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value) if value else value
    if isinstance(value, list):
        return [_replace_all(v, fn) for v in value]
    return value  # an object under a secret-named key: its own keys decide


_ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}")
_NAME_PART = rb"(?:[A-Za-z0-9_.-]|\\u[0-9a-fA-F]{4})"
# a key made of name bytes and at least one `\uXXXX` escape, then its string value
_ESCAPED_FIELD = re.compile(rb'"(' + _NAME_PART + rb"*\\u[0-9a-fA-F]{4}" + _NAME_PART
                            + rb'*)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def escaped_key_values(data: bytes, is_key: Callable[[str], bool]) -> list[tuple[int, int]]:
    """(start, end) of each string value whose key is spelled with `\\u` escapes
    (`"\\u0074oken": "..."`) and, decoded, is a key `is_key` accepts."""
    out: list[tuple[int, int]] = []
    for m in _ESCAPED_FIELD.finditer(data):
        key = _ESCAPE.sub(lambda e: chr(int(e.group()[2:], 16)).encode("utf-8", "surrogatepass"),
                          m.group(1))
        if m.end(2) > m.start(2) and is_key(key.decode("utf-8", "replace")):
            out.append(m.span(2))
    return out

"""A small JSON-path pattern language for naming volatile fields.

Supported: `$` (the root), `.key` or `['key']`, `[N]` (a list index), `[*]` or `.*` (any key or
index), `..key` (that key at any depth). Examples: `$.request_id`, `$.body.items[*].etag`,
`$..timestamp`. Patterns are compiled once and matched against the path of every node while
arguments are canonicalised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stubs.errors import StubConfigError

PathPart = str | int
_TOKEN = re.compile(r"\.\.|\.\*|\[\*\]|\.[^.\[\]]+|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\]")


@dataclass(frozen=True)
class _Step:
    kind: str  # "key" | "index" | "any"
    value: PathPart | None = None
    deep: bool = False  # preceded by `..`: may skip any number of levels first

    def accepts(self, part: PathPart) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "index":
            return isinstance(part, int) and part == self.value
        return isinstance(part, str) and part == self.value


class PathPattern:
    """A compiled pattern; `matches(path)` says whether a node's path is named by it.

    >>> PathPattern("$..ts").matches(("body", "items", 0, "ts"))
    True
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.steps = _compile(text)

    def matches(self, path: tuple[PathPart, ...]) -> bool:
        return _match(self.steps, 0, path, 0)

    def __repr__(self) -> str:
        return f"PathPattern({self.text!r})"


def _compile(text: str) -> tuple[_Step, ...]:
    if not text.startswith("$"):
        raise StubConfigError(f"The JSON path {text!r} must start with `$` (for example "
                              "`$.request_id` or `$..timestamp`); fix it in the stub config.")
    rest = text[1:]
    steps: list[_Step] = []
    deep = False
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if m is None:
            raise StubConfigError(f"The JSON path {text!r} cannot be read at character "
                                  f"{pos + 2}; use `.key`, `[N]`, `[*]` or `..key`.")
        tok = m.group(0)
        pos = m.end()
        if tok == "..":
            deep = True
            # `..key` is written without a dot before the key: read a bare name next
            bare = re.match(r"[^.\[\]]+", rest[pos:])
            if bare:
                name = bare.group(0)
                steps.append(_Step("any", deep=True) if name == "*"
                             else _Step("key", name, deep=True))
                pos += len(name)
                deep = False
            continue
        if tok in (".*", "[*]"):
            step = _Step("any", deep=deep)
        elif tok.startswith("[") and tok[1:-1].isdigit():
            step = _Step("index", int(tok[1:-1]), deep=deep)
        elif tok.startswith("["):
            step = _Step("key", tok[2:-2], deep=deep)
        else:
            step = _Step("key", tok[1:], deep=deep)
        steps.append(step)
        deep = False
    if not steps:
        raise StubConfigError(f"The JSON path {text!r} names the whole value; name a field "
                              "inside it, such as `$.request_id`.")
    return tuple(steps)


def _match(steps: tuple[_Step, ...], i: int, path: tuple[PathPart, ...], j: int) -> bool:
    if i == len(steps):
        return j == len(path)
    step = steps[i]
    if step.deep:
        # try to match this step at every remaining depth
        return any(step.accepts(path[k]) and _match(steps, i + 1, path, k + 1)
                   for k in range(j, len(path)))
    return j < len(path) and step.accepts(path[j]) and _match(steps, i + 1, path, j + 1)

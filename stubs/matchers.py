"""Matchers: named functions that pick which parts of a call make up its lookup key.

A matcher takes the tool's `Canonicalizer` and the call's JSON arguments and returns a hashable
part; the key is the part (one matcher) or the tuple of parts. Built-ins register exactly the way
a user's matcher does:

    >>> from stubs.matchers import matcher
    >>> @matcher("city_only")
    ... def city_only(canon, args):
    ...     return canon.freeze(args.get("city")) if isinstance(args, dict) else None

then `match_on = ["city_only"]` for a tool in the stub config. On a miss, `explain` says which
matchers agreed with the closest recorded call and which did not, like VCR.py's miss report.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from stubs.canonical import Canonicalizer

Matcher = Callable[[Canonicalizer, Any], Hashable]
MATCHERS: dict[str, Matcher] = {}


def matcher(name: str) -> Callable[[Matcher], Matcher]:
    """Register a matcher under a name (replacing any earlier one of that name)."""

    def register(fn: Matcher) -> Matcher:
        MATCHERS[name] = fn
        return fn

    return register


@matcher("arguments")
def arguments(canon: Canonicalizer, args: Any) -> Hashable:
    """All arguments, canonicalised (the default)."""
    return canon.freeze(args)


def _part(args: Any, name: str) -> Any:
    return args.get(name) if isinstance(args, dict) else None


@matcher("query")
def query(canon: Canonicalizer, args: Any) -> Hashable:
    """HTTP tools: the query string only."""
    return canon.freeze(_part(args, "query"))


@matcher("body")
def body(canon: Canonicalizer, args: Any) -> Hashable:
    """HTTP tools: the request body only."""
    return canon.freeze(_part(args, "body"))


@matcher("keys")
def keys(canon: Canonicalizer, args: Any) -> Hashable:
    """Which top-level arguments were given, not their values (a lenient match)."""
    if isinstance(args, dict):
        return tuple(sorted(str(k) for k in canon.value(args)))
    return type(args).__name__


@matcher("tool")
def tool(canon: Canonicalizer, args: Any) -> Hashable:
    """Nothing of the arguments: any call of the tool matches (with the repeat policy)."""
    return ()


KeyFn = Callable[[Canonicalizer, Any], Hashable]


def key_function(names: Sequence[str]) -> KeyFn:
    """The key function for a list of matcher names (the single-matcher case costs nothing)."""
    fns = [MATCHERS[n] for n in names]
    if len(fns) == 1:
        return fns[0]
    return lambda canon, args: tuple(f(canon, args) for f in fns)


def explain(names: Sequence[str], canon: Canonicalizer, query_args: Any,
            recorded_args: Any) -> dict[str, list[str]]:
    """Which matchers agree between a query and a recorded call, and which do not."""
    agree: list[str] = []
    differ: list[str] = []
    for name in names:
        fn = MATCHERS[name]
        (agree if fn(canon, query_args) == fn(canon, recorded_args) else differ).append(name)
    return {"matched": agree, "failed": differ}

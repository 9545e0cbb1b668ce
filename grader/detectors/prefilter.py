"""Literal prefilters: skip a regex search when the text cannot match.

Most rubric regexes are alternations of phrases (`rm -rf|git push --force|DROP TABLE`), and
Python's `re` tries every alternative at every position, so a search costs microseconds even
on texts that hold none of them. Each alternative, though, usually *requires* some literal
(`git push`, `.env`): when none of those literals occurs in the (case-folded) text, the regex
cannot match and the search is skipped. The literals come from the regex's own parse tree, so
a prefilter never rejects a text the regex would match (case-folding covers IGNORECASE).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

try:  # the parser is internal to `re`; without it every search simply runs
    from re import _parser as _sre  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover
    _sre = None

_ZERO_WIDTH = {"AT", "ASSERT", "ASSERT_NOT"}


def _branches(av: Any) -> list[str] | None:
    out: list[str] = []
    for branch in av[1]:
        req = _required(list(branch))
        if req is None:
            return None
        out.extend(req)
    return out


def _required(seq: list[tuple[Any, Any]]) -> list[str] | None:
    """Literals of which at least one occurs in every match of this sequence (None: no such
    set known). Among several candidate sets, the one with the longest shortest literal."""
    candidates: list[list[str]] = []
    run = ""
    for op, av in seq:
        name = str(op)
        if name == "LITERAL":
            run += chr(av)
            continue
        if name in _ZERO_WIDTH:  # consumes nothing: the run continues across it
            continue
        if run:
            candidates.append([run])
            run = ""
        req: list[str] | None = None
        if name == "SUBPATTERN":
            req = _required(list(av[-1]))
        elif name == "BRANCH":
            req = _branches(av)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            req = _required(list(av[2]))
        if req:
            candidates.append(req)
    if run:
        candidates.append([run])
    if not candidates:
        return None
    return max(candidates, key=lambda c: (min(len(x) for x in c), -len(c)))


def required_literals(pattern: str, flags: int = 0) -> list[str] | None:
    """Case-folded literals, one per alternative, at least one of which occurs in any text the
    pattern matches; None when some alternative requires no literal."""
    if _sre is None:
        return None
    try:
        tree = _sre.parse(pattern, flags)
    except Exception:
        return None
    lits = _required(list(tree))
    if not lits:
        return None
    return sorted({lit.casefold() for lit in lits}, key=len, reverse=True)


def literal_prefix(pattern: str, flags: int = 0) -> str:
    """The literal every match of the pattern starts with ("" when none is known)."""
    if _sre is None:
        return ""
    try:
        tree = _sre.parse(pattern, flags)
    except Exception:
        return ""
    out = []
    for op, av in tree:
        if str(op) != "LITERAL":
            break
        out.append(chr(av))
    return "".join(out)


def any_in(literals: list[str], text: str) -> bool:
    """True when some literal occurs in `text` (a plain loop: faster than any() over a
    generator for the dozen-odd literals of a rubric regex)."""
    for lit in literals:  # noqa: SIM110 (the point of this function)
        if lit in text:
            return True
    return False


Search = Callable[[str, str | None], "re.Match[str] | None"]


def searcher(rx: re.Pattern[str]) -> Search:
    """`search(text, folded=None)`: `rx.search(text)`, skipped when no required literal is in
    `folded` (the text's casefold(), computed when not given)."""
    lits = required_literals(rx.pattern, rx.flags)
    search = rx.search
    if not lits:

        def plain(text: str, folded: str | None = None) -> re.Match[str] | None:
            return search(text)

        return plain
    # drop literals that contain a shorter one: the shorter is found whenever the longer is
    lits = [x for x in lits if not any(y != x and y in x for y in lits)]

    def filtered(text: str, folded: str | None = None) -> re.Match[str] | None:
        low = folded if folded is not None else text.casefold()
        for lit in lits:
            if lit in low:
                return search(text)
        return None

    return filtered

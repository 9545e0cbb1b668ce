"""Find every redaction pattern's matches in one pass, as one alternation of them would.

The rules are semantically one regex `(p0)|(p1)|...`: scanning left to right, the leftmost
match wins, and at equal starts the earlier pattern; the scan resumes where that match ended.
Running that joined regex is slow because most default patterns start with a lookbehind (a
token must not start inside a word), so the engine evaluates every alternative's lookbehinds
at every byte. `Scanner` gives the same matches much faster:

- each pattern runs on its own and only while it can still win: its next match is kept and
  searched again only once the scan has moved past its start (a k-way merge of searches);
- a pattern whose required literal is absent (`sk-`, `AKIA`, `@`, ...) is skipped outright;
- a default pattern starting with a lookbehind is searched as `(?=FIRST)PATTERN`, where FIRST
  is what its first byte must be: the engine rejects most positions on one byte test;
- emails are only tried inside the run of local-part bytes right before each `@`.

Each of these is exact: a match is found at the same start, by the same regex, as in the joined
scan. What the joined regex treats specially goes to it as it is: a pattern that can match the
empty string (the scan's empty-match rule), numbered backreferences and conditionals (inside
the joined regex they name other groups).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from recorder.redact_rules import DEFAULT_PATTERNS

Finder = Callable[[bytes, int], "re.Match[bytes] | None"]
"""The leftmost match of one pattern starting at or after a position, or None."""

_LOCAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_DIGITS = b"0123456789"
_BACKREF = re.compile(rb"\\[1-9]|\(\?P=|\(\?\(")  # group references, conditionals too


@dataclass(frozen=True)
class _Hint:
    """What is known of a default pattern's matches."""

    needs: tuple[bytes, ...] = ()
    """Every match contains one of these literals (none: no prefilter)."""
    folded: bool = False
    """`needs` is matched case-insensitively (ASCII, as bytes patterns with `(?i)` are)."""
    first: bytes | None = None
    """A lookahead every match's first byte satisfies, put in front when searching."""
    email: bool = False
    """Search only the local-part runs before each `@`."""
    digits: int = 0
    """Every match holds at least this many ASCII digits."""


_DEFAULT = dict(DEFAULT_PATTERNS)
_HINTS: dict[bytes, _Hint] = {
    _DEFAULT["anthropic_key"]: _Hint((b"sk-ant-",), first=rb"(?=sk-ant-)"),
    _DEFAULT["openai_key"]: _Hint((b"sk-",), first=rb"(?=sk-)"),
    _DEFAULT["aws_key"]: _Hint((b"AKIA", b"ASIA"), first=rb"(?=A[KS]IA)"),
    _DEFAULT["github_token"]: _Hint((b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_",
                                     b"github_pat_"), first=rb"(?=g)"),
    _DEFAULT["slack_token"]: _Hint((b"xox",), first=rb"(?=xox)"),
    _DEFAULT["bearer"]: _Hint((b"bearer",), folded=True),
    _DEFAULT["url_credentials"]: _Hint((b"://",)),
    _DEFAULT["secret_field"]: _Hint((b'"',)),
    _DEFAULT["secret_param"]: _Hint((b"=",)),
    _DEFAULT["email"]: _Hint((b"@",), email=True),
    # a card is 13-19 digits; the shortest phone form is `+1` and two groups of two digits
    _DEFAULT["card"]: _Hint(first=rb"(?=[2-6])", digits=13),
    _DEFAULT["phone"]: _Hint(first=rb"(?=[0-9+(])", digits=5),
}


def _email_finder(full: re.Pattern[bytes]) -> Finder:
    """A match contains one `@`, preceded by local-part bytes all the way from its start; so it
    starts inside the run of such bytes that ends at the first `@` after the scan position."""

    def find(data: bytes, pos: int) -> re.Match[bytes] | None:
        at = data.find(b"@", pos)
        while at >= 0:
            start = at
            while start > pos and data[start - 1] in _LOCAL:
                start -= 1
            for s in range(start, at):
                m = full.match(data, s)
                if m is not None:
                    return m
            at = data.find(b"@", at + 1)
        return None

    return find


def _finder(pattern: bytes) -> tuple[Finder, _Hint | None]:
    full = re.compile(pattern)
    hint = _HINTS.get(pattern)
    if hint is None:
        return full.search, None
    if hint.email:
        return _email_finder(full), hint
    if hint.first is not None:
        return re.compile(hint.first + pattern).search, hint
    return full.search, hint


class Scanner:
    """The matches of `patterns` joined as one alternation, found pattern by pattern."""

    def __init__(self, patterns: list[bytes]) -> None:
        self.exact = not any(_BACKREF.search(p) for p in patterns)
        """False when the joined regex must be used (numbered backreferences)."""
        # (index, finder, literals one of which a match needs, whether they are case-folded)
        self._plan: list[tuple[int, Finder, tuple[bytes, ...], bool, int]] = []
        for i, p in enumerate(patterns):
            find, hint = _finder(p)
            self._plan.append((i, find, hint.needs if hint else (), bool(hint and hint.folded),
                               hint.digits if hint else 0))
        self._folded = any(plan[3] for plan in self._plan)

    def matches(self, data: bytes) -> Iterator[tuple[int, re.Match[bytes]]] | None:
        """(pattern index, match) in scan order; None when an empty match turns up, since only
        the joined regex's own scan knows where to go on after one."""
        if not self.exact:
            return None
        lowered = data.lower() if self._folded else data
        digits = -1
        live: list[tuple[int, Finder]] = []
        for i, find, needs, folded, min_digits in self._plan:
            if min_digits:
                if digits < 0:
                    digits = len(data) - len(data.translate(None, _DIGITS))
                if digits < min_digits:
                    continue
            if needs:
                hay = lowered if folded else data
                for n in needs:
                    if n in hay:
                        break
                else:
                    continue  # none of the literals every match contains is there
            live.append((i, find))
        found: list[tuple[int, re.Match[bytes]]] = []
        pending: dict[int, re.Match[bytes] | None] = {}
        pos = 0
        while live:
            best: tuple[int, re.Match[bytes]] | None = None
            gone = []
            for i, find in live:
                m = pending.get(i)
                if m is None or m.start() < pos:
                    m = find(data, pos)
                    if m is None:
                        gone.append(i)
                        continue
                    pending[i] = m
                if best is None or m.start() < best[1].start():
                    best = (i, m)
            if gone:
                live = [(i, f) for i, f in live if i not in gone]
            if best is None:
                break
            m = best[1]
            if m.end() == m.start():
                return None
            found.append(best)
            pos = m.end()
        return iter(found)

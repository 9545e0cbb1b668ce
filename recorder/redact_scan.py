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
- emails are only tried inside the run of local-part bytes right before each `@`; `NAME=`
  assignments only at the start of the name before an `=` that follows a credential word;
  credential-like JSON fields and `token: ...` contexts only around the (case-folded)
  occurrences of their words.

Each of these is exact: a match is found at the same start, by the same regex, as in the joined
scan. What the joined regex treats specially goes to it as it is: a pattern that can match the
empty string (the scan's empty-match rule), numbered backreferences and conditionals (inside
the joined regex they name other groups).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from recorder.redact_rules import DEFAULT_PATTERNS

Finder = Callable[[bytes, int], "re.Match[bytes] | None"]
"""The leftmost match of one pattern starting at or after a position, or None."""
MakeFinder = Callable[["_Text"], Finder]
"""A finder for one text; it may keep state for that text."""

_LOCAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_FIELD = _WORD | frozenset(b".-")
_DIGITS = b"0123456789"
_BACKREF = re.compile(rb"\\[1-9]|\(\?P=|\(\?\(")  # group references, conditionals too
# an `=` right after (or one space or tab after) a word every credential-like name set by `=`
# ends with (`api_key=`, `DB_PASS=`, `sig=`, `SECRET_KEY = "`): starting with the `=` itself,
# the engine only stops at the `=` bytes
_ENDINGS = (b"password", b"passwd", b"passphrase", b"pass", b"secret", b"token", b"key",
            b"credential", b"credentials", b"authorization", b"cookie", b"pwd", b"sig",
            b"signature")
_ASSIGNED = re.compile(b"=(?:" + b"|".join(b"(?<=" + w + s + b"=)" for w in _ENDINGS
                                           for s in (b"", b" ", b"\t")) + b")")
# every credential word starts with one of these; a credential-like name holds one, or `pwd`
_WORD_STARTS = (b"token", b"pass", b"secret", b"api", b"auth", b"access", b"private",
                b"credential", b"cookie")


@dataclass(frozen=True)
class _Hint:
    """What is known of a default pattern's matches."""

    needs: tuple[bytes, ...] = ()
    """Every match contains one of these literals (none: no prefilter)."""
    folded: bool = False
    """`needs` is matched case-insensitively (ASCII, as bytes patterns with `(?i)` are)."""
    first: bytes | None = None
    """A lookahead every match's first byte satisfies, put in front when searching."""
    digits: int = 0
    """Every match holds at least this many ASCII digits."""
    anchor: Literal["search", "email", "assignment", "word", "field"] = "search"
    """Where matches can start (see the finders below); `search`: anywhere."""
    name: frozenset[int] = _WORD
    """The bytes of a name, for the `assignment` anchor."""


_DEFAULT = dict(DEFAULT_PATTERNS)
_HINTS: dict[bytes, _Hint] = {
    _DEFAULT["anthropic_key"]: _Hint((b"sk-ant-",), first=rb"(?=sk-ant-)"),
    _DEFAULT["openai_key"]: _Hint((b"sk-",), first=rb"(?=sk-)"),
    _DEFAULT["aws_key"]: _Hint((b"AKIA", b"ASIA"), first=rb"(?=A[KS]IA)"),
    _DEFAULT["github_token"]: _Hint((b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_",
                                     b"github_pat_"), first=rb"(?=g)"),
    _DEFAULT["slack_token"]: _Hint((b"xox",), first=rb"(?=xox)"),
    _DEFAULT["google_api_key"]: _Hint((b"AIza",), first=rb"(?=AIza)"),
    _DEFAULT["stripe_key"]: _Hint((b"_live_", b"_test_"), first=rb"(?=[sr]k_)"),
    _DEFAULT["huggingface_token"]: _Hint((b"hf_",), first=rb"(?=hf_)"),
    _DEFAULT["jwt"]: _Hint((b"eyJ",), first=rb"(?=eyJ)"),
    _DEFAULT["private_key"]: _Hint((b"PRIVATE KEY-----",), first=rb"(?=-----BEGIN )"),
    _DEFAULT["bearer"]: _Hint((b"bearer",), folded=True),
    _DEFAULT["url_credentials"]: _Hint((b"://",)),
    _DEFAULT["secret_field"]: _Hint((*_WORD_STARTS, b"pwd"), folded=True, anchor="field"),
    _DEFAULT["secret_param"]: _Hint((b"=",), folded=True, anchor="assignment", name=_FIELD),
    _DEFAULT["env_secret"]: _Hint((b"=",), folded=True, anchor="assignment"),
    _DEFAULT["keyed_secret"]: _Hint(_WORD_STARTS, folded=True, digits=1, anchor="word"),
    _DEFAULT["email"]: _Hint((b"@",), anchor="email"),
    # a card is 13-19 digits; the shortest phone form is `+1` and two groups of two digits
    _DEFAULT["card"]: _Hint(first=rb"(?=[2-6])", digits=13),
    _DEFAULT["phone"]: _Hint(first=rb"(?=[0-9+(])", digits=5),
}


class _Text:
    """One text being scanned, as it is and ASCII-lowered, with where each literal asked about
    first occurs: a literal absent from a long text costs one search, whichever patterns ask."""

    def __init__(self, data: bytes, folded: bool) -> None:
        self.data = data
        self.lowered = data.lower() if folded else data
        self.first: dict[bytes, int] = {}
        """Literal → where it first occurs in `data`, or -1 (filled as asked)."""
        self.first_folded: dict[bytes, int] = {}
        """The same in `lowered`."""
        self._assigned: list[int] | None = None

    def assigned(self) -> list[int]:
        """Where each `_ASSIGNED` `=` is, in order (searched once, whichever patterns ask)."""
        if self._assigned is None:
            self._assigned = [m.start() for m in _ASSIGNED.finditer(self.lowered)]
        return self._assigned

    def has_any(self, literals: tuple[bytes, ...], folded: bool) -> bool:
        """True when one of `literals` occurs (in the lowered text if `folded`)."""
        cache, hay = (self.first_folded, self.lowered) if folded else (self.first, self.data)
        for lit in literals:
            at = cache.get(lit)
            if at is None:
                at = cache[lit] = hay.find(lit)
            if at >= 0:
                return True
        return False


class _Occurrences:
    """Where any of some (case-folded) literals occurs in a text, asked in increasing
    positions; each literal is searched again only once the asking has passed its last
    occurrence."""

    def __init__(self, text: _Text, literals: tuple[bytes, ...]) -> None:
        self._hay = text.lowered
        self._next: dict[bytes, int] = {}
        """Literal → its next occurrence (-1: not searched yet); absent ones left out."""
        for lit in literals:
            at = text.first_folded.get(lit)
            if at is None or at >= 0:
                self._next[lit] = -1 if at is None else at

    def first(self, pos: int) -> int:
        """The first occurrence at or after `pos`, or -1."""
        best = -1
        gone = None
        for lit, at in self._next.items():
            if at < pos:
                at = self._hay.find(lit, pos)
                if at < 0:
                    gone = (gone or []) + [lit]
                    continue
                self._next[lit] = at
            if best < 0 or at < best:
                best = at
        for lit in gone or ():
            del self._next[lit]
        return best


def _email_finder(full: re.Pattern[bytes]) -> MakeFinder:
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

    return lambda text: find


def _assignment_finder(full: re.Pattern[bytes], name: frozenset[int]) -> MakeFinder:
    """A match is `NAME=` (or `NAME = "`) with NAME a run of name bytes ending in a credential
    word (`_ASSIGNED`, searched in the lowered text: code is full of `=`) and starting after a
    non-name byte or an escape (`\\n`): so it starts at the start of the name run before such
    an `=`, or one byte later."""

    def make(text: _Text) -> Finder:
        hits = text.assigned()

        def find(data: bytes, pos: int) -> re.Match[bytes] | None:
            for i in range(bisect.bisect_left(hits, pos), len(hits)):
                end = hits[i]
                if end > pos and data[end - 1] in b" \t":
                    end -= 1
                start = end
                while start > pos and data[start - 1] in name:
                    start -= 1
                for s in (start, start + 1):
                    if s < end:
                        m = full.match(data, s)
                        if m is not None:
                            return m
            return None

        return find

    return make


def _anchored_finder(full: re.Pattern[bytes], anchors: tuple[bytes, ...],
                     starts: Callable[[bytes, int, int], tuple[int, ...]]) -> MakeFinder:
    """A match starts at one of `starts(data, pos, at)` for an occurrence `at` (at or after
    `pos`) of one of `anchors` (case-insensitively). Occurrences come in order and their starts
    never go back, so a start already tried (and failed) is skipped."""

    def make(text: _Text) -> Finder:
        occurrences = _Occurrences(text, anchors)

        def find(data: bytes, pos: int) -> re.Match[bytes] | None:
            at = occurrences.first(pos)
            tried = -1
            while at >= 0:
                for start in starts(data, pos, at):
                    if start > tried:
                        tried = start
                        m = full.match(data, start)
                        if m is not None:
                            return m
                at = occurrences.first(at + 1)
            return None

        return find

    return make


def _word_finder(full: re.Pattern[bytes], starts: tuple[bytes, ...]) -> MakeFinder:
    """A match starts where one of `starts` occurs (case-insensitively)."""
    return _anchored_finder(full, starts, lambda data, pos, at: (at,))


def _field_finder(full: re.Pattern[bytes], inside: tuple[bytes, ...]) -> MakeFinder:
    """A match is `"NAME"` or `\\"NAME\\"` (then the value) with NAME, which holds no quote,
    holding one of `inside`: so it starts at the last quote before such an occurrence, or at
    the backslash before that quote."""

    def starts(data: bytes, pos: int, at: int) -> tuple[int, ...]:
        quote = data.rfind(b'"', pos, at)
        if quote < 0:
            return ()
        return (quote - 1, quote) if quote > pos else (quote,)

    return _anchored_finder(full, inside, starts)


def _finder(pattern: bytes) -> tuple[MakeFinder, _Hint | None]:
    full = re.compile(pattern)
    hint = _HINTS.get(pattern)
    search = full.search
    if hint is not None and hint.first is not None:
        search = re.compile(hint.first + pattern).search
    if hint is None or hint.anchor == "search":
        return (lambda text: search), hint
    if hint.anchor == "email":
        return _email_finder(full), hint
    if hint.anchor == "assignment":
        return _assignment_finder(full, hint.name), hint
    if hint.anchor == "word":
        return _word_finder(full, hint.needs), hint
    return _field_finder(full, hint.needs), hint


class Scanner:
    """The matches of `patterns` joined as one alternation, found pattern by pattern."""

    def __init__(self, patterns: list[bytes]) -> None:
        self.exact = not any(_BACKREF.search(p) for p in patterns)
        """False when the joined regex must be used (numbered backreferences)."""
        # (index, finder, literals one of which a match needs, whether they are case-folded,
        # digits a match needs)
        self._plan: list[tuple[int, MakeFinder, tuple[bytes, ...], bool, int]] = []
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
        text = _Text(data, self._folded)
        digits = -1
        live: list[tuple[int, Finder]] = []
        for i, make, needs, folded, min_digits in self._plan:
            if min_digits:
                if digits < 0:
                    digits = len(data) - len(data.translate(None, _DIGITS))
                if digits < min_digits:
                    continue
            if needs and not text.has_any(needs, folded):
                continue  # none of the literals every match contains is there
            live.append((i, make(text)))
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

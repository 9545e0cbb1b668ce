"""The pattern-by-pattern scanner (`recorder.redact_scan`) against the implementation it
replaced: one joined regex run over the data. Same spans, same pseudonyms, same bytes, on
generated text mixing secrets, personal data, near-misses, JSON escapes and unicode."""

from __future__ import annotations

import re
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from recorder.redact import Redactor, _scoped
from recorder.redact_rules import DEFAULT_PATTERNS, VALIDATORS, RuleSet
from recorder.redact_spans import Span, literal_spans, merge

KEY = b"k" * 32


class JoinedReference:
    """The previous `Redactor.spans` (regex part): one alternation of all patterns, the
    winning pattern told by `lastindex`, each match judged as the redactor judges it."""

    def __init__(self, redactor: Redactor) -> None:
        self.r = redactor
        self.kinds: list[tuple[bytes, int | None, Callable[[bytes], bool] | None]] = []
        self.group_kind: dict[int, int] = {}
        parts: list[bytes] = []
        group = 1
        for i, (name, pattern) in enumerate(redactor.rules.patterns):
            inner = re.compile(pattern).groups
            parts.append(b"(" + _scoped(pattern) + b")")
            self.group_kind[group] = i
            self.kinds.append((name.encode(), group + 1 if inner else None,
                               VALIDATORS.get(name)))
            group += 1 + inner
        self.re = re.compile(b"|".join(parts)) if parts else None

    def spans(self, data: bytes, known: dict[bytes, bytes] | None = None) -> list[Span]:
        out: list[Span] = []
        found = dict(known or {})
        if self.re is not None:
            for m in self.re.finditer(data):
                outer = m.lastindex or 0
                while outer not in self.group_kind:
                    outer -= 1
                kind = self.kinds[self.group_kind[outer]]
                g = kind[1] if kind[1] is not None else outer
                span = self.r._matched(data, m.span(g), kind, found)
                if span is not None:
                    out.append(span)
        if self.r._fields and b"\\u" in data:  # not a pattern: the same in both
            out = merge(out, self.r._escaped_field_spans(data, found))
        if found:
            out = merge(out, literal_spans(data, found))
        if self.r.rules.json_paths:
            out = merge(out, self.r._json_path_spans(data))
        return out


_WORDS = st.sampled_from([
    # secrets and personal data of every default kind
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt", "sk-proj-ABCDEFGHIJKLMNOP1234", "sk-abcdefghijklmnop",
    "AKIAABCDEFGHIJKLMNOP", "ASIAQWERTYUIOPASDFGH", "ghp_" + "a1" * 16, "github_pat_" + "Z" * 22,
    "xoxb-1234567890-abc", "Bearer abc.def-ghi_jkl", "bearer\tZZZZZZZZ==", "BEARER  tok12345",
    "https://user:pa55word@host.example/x", '"password": "hunter2"', '"API_KEY" : "x\\"y"',
    "?token=abc123&x=1", "&signature=zz%20top", "ana@example.com", "first.last+tag@mail.co.uk",
    "AIza" + "Sy0-_" * 7, "sk_live_" + "4eC39HqLyjWDarjt", "rk_test_" + "Zz9" * 6,
    "hf_" + "AbCdEfGhIj" * 3, "eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2Q",
    "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "MIIEvQIBADANBg",
    "-----END PRIVATE KEY-----", "-----END ",
    # credentials by context: form fields, credential-like JSON keys (plain, nested, escaped),
    # `.env` lines, random strings after `token:` and the like
    "client_secret=cs1", "\n", "\r\n", "token=", "PWD=", "API_KEY=", "export DB_PASSWORD=",
    "SECRET_KEY = ", "'q w'", '"quoted"', "x_api_key", '"x-api-key": "v"', '\\"token\\": \\"',
    '"\\u0074oken": "s"', '"api\\u005fkey"', "Authorization: Basic ", "token: ", "secret is ",
    "9fK2xQ7bLm3Np8Rt5Vw", "dXNlcjpwYXNz==", "MAX_TOKENS=1", "password=pw", "Token", "KEY",
    "4111 1111 1111 1111", "4111-1111-1111-1112", "5500000000000004", "+1 (555) 123-4567",
    "2223000048400011", "2223 0000 4840 0011", "378282246310005", "6011111111111117",
    "+33 6 12 34 56 78", "2", "4222222222222", "+1 23 45",
    "(555) 123 4567", "555.123.4567", "+44 20 7946 0958", "[REDACTED:email:0123456789ab]",
    # near-misses: inside words, after escapes, too short, wrong case, broken domains
    "xsk-abcdefghijklmnop", "_AKIAABCDEFGHIJKLMNOP", "\\nana@example.com", "\\\\bob@ex.org",
    "\\xsk-abcdefghijklmnop", "sk-short", "akiaabcdefghijklmnop", "ana@example", "@example.com",
    "a@b.c", "1234567890123456789012", "2023-01-01", "v1.2.3", "12.5", "-4111111111111111",
    "x4111111111111111", "ghp_short", "xoxq-1234567890", "mailto:x@y.io", "1e10",
    "AIza" + "x" * 34, "xAIza" + "Sy0-_" * 7, "sk_prod_abcdefghijklmnop", "hf_short",
    "eyJhbGciOiJI", "-----BEGIN PUBLIC KEY-----",
    # unicode and JSON punctuation
    "é", "日本", "\u2028", "\U0001f600", '{"a":', "}", "[", "]", ",", '"', ":", " ", "\\n", "\\",
    "\\\\", "\\u00e9", "-", "+", ".", "(", ")", "@", "=", "&", "?", "/", "0", "7", "42",
])
_TEXT = st.lists(_WORDS | st.text(max_size=3), max_size=14).map(lambda ws: "".join(ws).encode(
    "utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(_TEXT)
@example(b"mail ana@example.com or +1 555 123 4567, key sk-ant-api03-AbCdEfGhIjKlMnOp")
@example(b'{"password": "x", "email": "\\nana@example.com"} Bearer sk-abcdefghijklmnopq')
@example(b"4111 1111 1111 1111 and 4111 1111 1111 1112")
@example(b"aaaa.bbbb-cccc@dd-ee.example.com@ff.gg")
@example(b"card 4222222222222 end")
@example(b"call +1 23 45 now")
def test_default_rules_find_what_the_joined_regex_found(data: bytes) -> None:
    r = Redactor(RuleSet(), KEY)
    ref = JoinedReference(r)
    assert r.spans(data) == ref.spans(data)
    known = {b"hunter2x": b"[REDACTED:credential:000000000000]"}
    assert r.spans(data, known) == ref.spans(data, known)


_CUSTOM = st.sampled_from([
    ("ticket", rb"TCK-[0-9]{6}"), ("empty", rb"x*"), ("backref", rb"(a)\1"),
    ("ci", rb"(?i)secret-[a-z]+"), ("group", rb"id=([0-9]+)"), ("opt", rb"q(z)?w"),
    ("word", rb"\bhunter2\b"), ("dup_of_email", rb"[a-z]+@[a-z]+\.com"),
    ("lookbehind", rb"(?<=@)[a-z]+"), ("conditional", rb"(q)?(?(1)z|w)w"),
])


@settings(max_examples=250, deadline=None)
@given(st.lists(_CUSTOM, max_size=3, unique_by=lambda c: c[0]),
       st.sets(st.sampled_from([n for n, _ in DEFAULT_PATTERNS])),
       st.lists(_WORDS | st.sampled_from(["TCK-123456", "xx", "aa", "SECRET-abc", "id=77", "qw",
                                         "qzw", "hunter2", "joe@ex.com", "x@yy"]),
                max_size=12).map(lambda ws: "".join(ws).encode("utf-8", "surrogatepass")))
def test_custom_and_disabled_rules_match_the_joined_regex(
        custom: list[tuple[str, bytes]], disabled: set[str], data: bytes) -> None:
    patterns = tuple((n, p) for n, p in DEFAULT_PATTERNS if n not in disabled) + tuple(custom)
    try:
        r = Redactor(RuleSet(patterns=patterns), KEY)
    except re.error:  # e.g. `\1` naming an open group of the joined regex: refused as before
        return
    assert r.spans(data) == JoinedReference(r).spans(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(_WORDS, max_size=30))
def test_redacted_streams_are_byte_identical(words: list[str]) -> None:
    """Whole chunked bodies through `redact_chunks` (which calls `spans` on the joined stream
    and on decoded SSE text deltas): same bytes as with the joined regex."""
    data = "".join(words).encode()
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)] or [b""]
    fast = Redactor(RuleSet(), KEY)
    slow = Redactor(RuleSet(), KEY)
    ref = JoinedReference(slow)
    slow.spans = ref.spans  # type: ignore[method-assign]
    assert fast.redact_chunks(chunks) == slow.redact_chunks(chunks)
    sse = b"".join(b'data: {"delta": "' + w.encode() + b'"}\n\n' for w in words)
    assert fast.redact_chunks([sse]) == slow.redact_chunks([sse])

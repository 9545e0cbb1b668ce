"""Redaction: secrets and personal data become consistent pseudonyms before anything is written.

    >>> r = Redactor.from_config()                      # doctest: +SKIP
    >>> r.redact_text("mail ana@example.com")           # doctest: +SKIP
    'mail [REDACTED:email:5be0c3a1d2f4]'

A pseudonym is `[REDACTED:KIND:HASH]` where HASH is a keyed HMAC of the value, so the same value
gets the same token across a corpus (threading and stub matching still work) while the value
cannot be recovered without the key, which is never written. Rules: `recorder.redact_rules`;
key (one per corpus folder, kept outside it): `recorder.redact_key`.

Everything of an exchange is covered: header values (whole values for auth/cookie headers),
the URL (query strings, userinfo), bodies (decoded first when content-encoded, re-encoded
after), and stream chunks — the chunks are redacted as one joined stream and re-split at the
original boundaries, so a secret split across two chunks is still found; a boundary that fell
inside a secret moves to the start of its pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from recorder.exchange import Exchange, Header, HttpRequest, HttpResponse, StreamChunk
from recorder.protocols.bodies import (
    BodyDecodeError,
    decode_chunks,
    encode_chunks,
    encodings_of,
)
from recorder.redact_json import (
    at_path,
    escaped_key_values,
    json_documents,
    leaves,
    replace_at_path,
    replace_keyed,
    walk_strings,
)
from recorder.redact_key import resolve_key
from recorder.redact_rules import VALIDATORS, RuleSet, is_credential_name, load_rules
from recorder.redact_scan import Scanner
from recorder.redact_spans import Span, apply, literal_spans, map_positions, merge
from recorder.redact_streams import split_secret_spans
from recorder.session import Session

_TOKEN_RE = re.compile(rb"\[REDACTED:[a-z0-9_]+:[0-9a-f]{12}\]")
_FLAGS_RE = re.compile(rb"^\(\?([aiLmsux]+)\)")
_SPECIFIC = ("anthropic_key", "openai_key", "aws_key", "github_token", "slack_token",
             "google_api_key", "stripe_key", "huggingface_token", "jwt")


def _scoped(pattern: bytes) -> bytes:
    """Turn a leading global flag group `(?i)` into a scoped one so patterns can be joined."""
    m = _FLAGS_RE.match(pattern)
    if m:
        return b"(?" + m.group(1) + b":" + pattern[m.end():] + b")"
    return b"(?:" + pattern + b")"


Kind = tuple[bytes, bool | int | None, Callable[[bytes], bool] | None]
"""A pattern's kind: its name, whether (or which group) holds the secret inside the context
that found it, and the validator a candidate must pass."""


class Redactor:
    """Applies one rule set with one key to exchanges, sessions and text."""

    def __init__(self, rules: RuleSet, key: bytes) -> None:
        self.rules = rules
        self.policy_id: str = rules.policy_id
        """Hash of the rules (not the key); written into cassette headers."""
        self._key = key
        self._cache: dict[tuple[bytes, bytes], bytes] = {}
        # The patterns mean one joined regex, one outer group per pattern: `_group_kind` maps
        # an outer group number to its pattern; `_kinds` holds (name, whether the pattern has
        # a group to redact, validator). `_scanner` finds the same matches pattern by pattern,
        # much faster (`recorder.redact_scan`); the joined regex is its fallback.
        self._kinds: list[Kind] = []
        self._group_kind: dict[int, int] = {}
        parts: list[bytes] = []
        group = 1
        for i, (name, pattern) in enumerate(rules.patterns):
            inner = re.compile(pattern).groups
            parts.append(b"(" + _scoped(pattern) + b")")
            self._group_kind[group] = i
            self._kinds.append((name.encode(), bool(inner), VALIDATORS.get(name)))
            group += 1 + inner
        self._re = re.compile(b"|".join(parts)) if parts else None
        self._scanner = Scanner([p for _, p in rules.patterns])
        self._specific = [(n.encode(), re.compile(p)) for n, p in rules.patterns
                          if n in _SPECIFIC]
        self._fields = any(n == "secret_field" for n, _ in rules.patterns)
        """Values under credential-like keys are secrets (in parsed JSON too)."""

    @classmethod
    def from_config(cls, rules_file: str | None = None, key: bytes | None = None, *,
                    corpus: str | None = None) -> Redactor:
        """Default rules (plus a TOML rules file) with the key from `resolve_key`: give the
        corpus folder written to, so its pseudonyms come from its own key."""
        return cls(load_rules(rules_file), resolve_key(key, corpus=corpus))

    # -- pseudonyms -----------------------------------------------------------------------

    def token(self, kind: str | bytes, value: bytes) -> bytes:
        """The pseudonym of `value`: the same value always gives the same hash."""
        kind_b = kind.encode() if isinstance(kind, str) else kind
        cached = self._cache.get((kind_b, value))
        if cached is None:
            digest = hmac.new(self._key, value, hashlib.sha256).hexdigest()[:12]
            cached = b"[REDACTED:" + kind_b + b":" + digest.encode() + b"]"
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[(kind_b, value)] = cached
        return cached

    def _classify(self, value: bytes, default: bytes) -> bytes:
        for name, pattern in self._specific:
            if pattern.fullmatch(value):
                return name
        return default

    # -- bytes ------------------------------------------------------------------------------

    def _matched(self, data: bytes, span: tuple[int, int], kind: Kind,
                 found: dict[bytes, bytes]) -> Span | None:
        """What one pattern match redacts: None for a value that is no secret (empty, already
        a pseudonym, refused by its kind's validator); a value found by context is noted in
        `found`, so its other occurrences are redacted too."""
        name, inner, validator = kind
        start, end = span
        value = data[start:end]
        if not value or _TOKEN_RE.fullmatch(value):
            return None
        if validator is not None and not validator(value):
            return None
        if inner:
            name = self._classify(value, name)
            if len(value) >= 8:
                found[value] = self.token(name, value)
        return (start, end, self.token(name, value))

    def spans(self, data: bytes, known: dict[bytes, bytes] | None = None) -> list[Span]:
        """Every secret in `data` as (start, end, pseudonym), sorted, non-overlapping.

        A value found by context (after `Bearer`, in a `"password"` field, an auth header
        given in `known` as value → pseudonym) is a secret wherever else it appears in `data`.
        """
        out: list[Span] = []
        found = dict(known or {})
        if self._re is not None:
            for i, m, g in self._matches(data):
                span = self._matched(data, m.span(g), self._kinds[i], found)
                if span is not None:
                    out.append(span)
        if self._fields and b"\\u" in data:
            out = merge(out, self._escaped_field_spans(data, found))
        if found:
            out = merge(out, literal_spans(data, found))
        if self.rules.json_paths:
            out = merge(out, self._json_path_spans(data))
        return out

    def _escaped_field_spans(self, data: bytes, found: dict[bytes, bytes]) -> list[Span]:
        """Values under credential-like keys spelled with `\\u` escapes (`"\\u0074oken"`), which
        the `secret_field` pattern cannot read; like its values, they join `found`."""
        out: list[Span] = []
        for start, end in escaped_key_values(data, is_credential_name):
            value = data[start:end]
            out.append((start, end, self._secret(value, b"secret_field", found)))
        return out

    def _matches(self, data: bytes) -> Iterator[tuple[int, re.Match[bytes], int]]:
        """(pattern index, match, group to redact) of every pattern match, in scan order."""
        scanned = self._scanner.matches(data)
        if scanned is not None:
            for i, m in scanned:
                yield i, m, 1 if self._kinds[i][1] else 0
            return
        assert self._re is not None
        for m in self._re.finditer(data):
            outer = m.lastindex or 0
            while outer not in self._group_kind:  # lastindex may name an inner group
                outer -= 1
            i = self._group_kind[outer]
            yield i, m, outer + 1 if self._kinds[i][1] else outer

    def redact_bytes(self, data: bytes, known: dict[bytes, bytes] | None = None) -> bytes:
        """`data` with every secret replaced by its pseudonym."""
        return apply(data, self.spans(data, known))

    def redact_text(self, text: str, known: dict[bytes, bytes] | None = None) -> str:
        """`text` with every secret replaced by its pseudonym."""
        raw = text.encode("utf-8", "surrogatepass")
        red = self.redact_bytes(raw, known)
        return text if red is raw else red.decode("utf-8", "surrogatepass")

    def redact_chunks(self, chunks: Sequence[bytes],
                      known: dict[bytes, bytes] | None = None) -> list[bytes]:
        """Redact a stream as one joined text, then re-split at the original boundaries."""
        joined = b"".join(chunks)
        spans = self.spans(joined, known)
        if b"data:" in joined:  # an event stream: secrets may be split across text deltas
            spans = merge(split_secret_spans(joined, lambda t: self.spans(t, known),
                                              lambda t: self.redact_bytes(t, known)), spans)
        if not spans:
            return list(chunks)
        new = apply(joined, spans)
        bounds: list[int] = []
        pos = 0
        for c in chunks:
            pos += len(c)
            bounds.append(pos)
        cuts = map_positions(bounds, spans)
        out, prev = [], 0
        for cut in cuts:
            out.append(new[prev:cut])
            prev = cut
        return out

    # -- JSON paths -------------------------------------------------------------------------

    def _json_path_spans(self, data: bytes) -> list[Span]:
        docs: list[Any] = []
        stripped = data.strip()
        if stripped[:1] in (b"{", b"["):
            try:
                docs.append(json.loads(stripped))
            except ValueError:
                docs.extend(json_documents(data))
        else:
            docs.extend(json_documents(data))
        strings: set[str] = set()
        numbers: set[tuple[str, str]] = set()
        for doc in docs:
            for path in self.rules.json_paths:
                for key, value in at_path(doc, path, None):
                    leaves(value, key, strings, numbers)
        out: list[Span] = []
        for s in strings:
            if not s:
                continue
            for form in {json.dumps(s)[1:-1].encode(), s.encode("utf-8", "surrogatepass")}:
                rep = self.token("json_path", s.encode("utf-8", "surrogatepass"))
                i = data.find(form)
                while i >= 0:
                    out.append((i, i + len(form), rep))
                    i = data.find(form, i + len(form))
        for key, lit in numbers:
            rep = b'"' + self.token("json_path", lit.encode()) + b'"'
            pat = re.compile(b'"' + re.escape(key.encode()) + rb'"\s*:\s*(' + re.escape(
                lit.encode()) + rb')(?=\s*[,}\]])')
            out.extend((m.start(1), m.end(1), rep) for m in pat.finditer(data))
        out.sort()
        return merge([], out)

    def redact_json(self, value: Any) -> Any:
        """A JSON value with path rules applied, the strings under credential-like keys
        (`{"token": ...}`) replaced whole, and every string redacted."""
        for path in self.rules.json_paths:
            value = replace_at_path(value, path, lambda v: self.token(
                "json_path", (v if isinstance(v, str) else json.dumps(v)).encode()).decode())
        known: dict[bytes, bytes] = {}
        if self._fields:
            # the same token the `secret_field` pattern gives the value in raw JSON
            value = replace_keyed(value, is_credential_name, lambda s: self._secret(
                s.encode("utf-8", "surrogatepass"), b"secret_field", known).decode(
                "utf-8", "surrogatepass"))
        return walk_strings(value, lambda s: self.redact_text(s, known))

    # -- records ----------------------------------------------------------------------------

    def _secret(self, value: bytes, kind: bytes, known: dict[bytes, bytes]) -> bytes:
        """The pseudonym of a whole secret value; remembered in `known` for the bodies."""
        if _TOKEN_RE.fullmatch(value):
            return value
        token = self.token(self._classify(value, kind), value)
        if len(value) >= 8:
            known[value] = token
        return token

    def _header(self, name: str, value: str, known: dict[bytes, bytes]) -> str:
        lname = name.lower()
        if lname not in self.rules.headers:
            return self.redact_text(value, known)
        raw = value.encode("utf-8", "surrogatepass").strip()
        if not raw:
            return value
        if lname in ("cookie", "set-cookie"):
            pieces = raw.split(b";")
            for i, piece in enumerate(pieces):
                if lname == "set-cookie" and i > 0:
                    break  # attributes (Path, Expires, ...) are not secret
                cname, eq, val = piece.partition(b"=")
                if eq and val.strip():
                    pieces[i] = cname + b"=" + self._secret(val.strip(), b"cookie", known)
            return b";".join(pieces).decode("utf-8", "surrogatepass")
        scheme, sep, cred = raw.partition(b" ")
        if lname.endswith("authorization") and sep and scheme.isalpha() and cred.strip():
            # keep the scheme word (Bearer, Basic, ...) so the header still reads as what it is
            return (scheme + b" " + self._secret(cred.strip(), scheme.lower(), known)).decode(
                "utf-8", "surrogatepass")
        return self._secret(raw, b"credential", known).decode("utf-8", "surrogatepass")

    def _headers(self, headers: list[Header], known: dict[bytes, bytes]) -> list[Header]:
        # auth headers first, so their values are known secrets for every other header
        redacted = {i: self._header(k, v, known) for i, (k, v) in enumerate(headers)
                    if k.lower() in self.rules.headers}
        return [(k, redacted[i] if i in redacted else self._header(k, v, known))
                for i, (k, v) in enumerate(headers)]

    def _body(self, chunks: list[bytes], headers: list[Header], where: str,
              problems: list[str], known: dict[bytes, bytes]) -> list[bytes]:
        encodings = encodings_of(headers)
        if not encodings:
            return self.redact_chunks(chunks, known)
        try:
            decoded = decode_chunks(chunks, encodings)
        except BodyDecodeError as exc:
            problems.append(f"redaction: the {where} body could not be decoded ({exc}); its raw "
                            "bytes were scanned as they are")
            return self.redact_chunks(chunks, known)
        red = self.redact_chunks(decoded, known)
        if red == decoded:
            return chunks
        return encode_chunks(red, encodings)

    def redact_exchange(self, ex: Exchange) -> Exchange:
        """The exchange with every secret in headers, URL, bodies and chunks pseudonymised."""
        problems = list(ex.problems)
        known: dict[bytes, bytes] = {}
        req = ex.request
        req_headers = self._headers(req.headers, known)
        resp = ex.response
        resp_headers = self._headers(resp.headers, known) if resp is not None else []
        new_req = HttpRequest(
            method=req.method,
            url=self.redact_text(req.url, known),
            headers=req_headers,
            body=b"".join(self._body([req.body], req.headers, "request", problems, known))
            if req.body else b"",
        )
        new_resp: HttpResponse | None = None
        if resp is not None:
            if resp.chunks is not None:
                pieces = self._body([c.data for c in resp.chunks], resp.headers, "response",
                                    problems, known)
                chunks = [StreamChunk(offset_ms=c.offset_ms, data=d)
                          for c, d in zip(resp.chunks, pieces, strict=True)]
                body = b"".join(pieces)
            else:
                chunks = None
                body = b"".join(self._body([resp.body], resp.headers, "response", problems,
                                           known)) if resp.body else b""
            new_resp = HttpResponse(status=resp.status, reason=resp.reason,
                                    headers=resp_headers, body=body, chunks=chunks)
        return ex.model_copy(update={
            "request": new_req,
            "response": new_resp,
            "error": self.redact_text(ex.error, known) if ex.error else ex.error,
            "session_hint": self.redact_text(ex.session_hint, known) if ex.session_hint
            else None,
            "labels": {k: self.redact_text(v, known) for k, v in ex.labels.items()},
            "problems": problems,
        })

    def redact_session(self, s: Session) -> Session:
        """The session with every string (messages, tool calls, results, params) redacted."""
        obj = s.model_dump(mode="python")
        for key in ("messages", "tools", "params", "labels"):
            obj[key] = self.redact_json(obj[key])
        if obj["source"].get("source_session"):
            obj["source"]["source_session"] = self.redact_text(obj["source"]["source_session"])
        obj["id"] = self.redact_text(obj["id"])
        return Session.model_validate(obj)

"""Redaction rules: the default secret and personal-data patterns, extra rules from TOML.

A rule set has three parts:
- `headers`: header names whose whole value is a secret (Authorization keeps its scheme word).
- `patterns`: named byte regexes searched in every header value, URL, body and stream; a
  pattern with a capture group redacts only the group; an optional validator (Luhn for cards)
  must accept the match.
- `json_paths`: paths (`user.ssn`, `$.items[*].token`, `*.password`) whose values in any JSON
  document (request/response bodies, SSE `data:` events, tool arguments) are secrets.

Extra rules come from a TOML file (top level or a `[redaction]` table)::

    headers = ["X-Customer-Token"]
    json_paths = ["customer.ssn"]
    disable = ["phone"]              # default patterns to switch off
    [[patterns]]
    name = "ticket"
    regex = "TCK-[0-9]{6}"
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.errors import UsageError

RULES_VERSION = 3
"""Bumped when the default rules change, so the policy id changes with them."""

DEFAULT_HEADERS = (
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
    "x-auth-token", "x-access-token", "cookie", "set-cookie", "x-amz-security-token",
)


def luhn_ok(digits: bytes) -> bool:
    """True when a digit string passes the Luhn checksum (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ch - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(match: bytes) -> bool:
    digits = bytes(c for c in match if 48 <= c <= 57)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


# A name is credential-like when it ends in one of these words, however it is prefixed
# (`x-api-key`, `client_secret`, `githubToken`, `aws_secret_access_key`), case-insensitively.
_CREDENTIAL_WORDS = (
    rb"password|passwd|passphrase|secret|token|api[_-]?key|secret[_-]?key|access[_-]?key|"
    rb"private[_-]?key|auth[_-]?key|credentials?|authorization|cookie"
)
CREDENTIAL_NAME = rb"(?:[A-Za-z0-9_.-]*?(?:" + _CREDENTIAL_WORDS + rb")|pwd)"
"""A field, parameter or variable name whose value is a secret (match case-insensitively)."""
_CREDENTIAL_NAME_RE = re.compile(CREDENTIAL_NAME.decode(), re.IGNORECASE)


def is_credential_name(name: str) -> bool:
    """True when a (decoded) JSON key or parameter name says its value is a secret."""
    return _CREDENTIAL_NAME_RE.fullmatch(name) is not None


# `.env` variables: upper-case names (lower-case `password=` in source code is an argument, not
# a secret) ending in a credential word; `PWD`, `KEY` alone or `MONKEY` are not credentials.
_ENV_NAME = (rb"[A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|APIKEY|_KEY|"
             rb"_PWD|_PASS)")
# An unquoted value ends where a shell word would (whitespace, quote, `&`, `;`, `|`, ...) or
# at a JSON escape; a quoted one at its quote. `=` may have a space on each side only before a
# quoted value (`SECRET_KEY = "..."`), so `KEY = os.environ[...]` stays code.
_ENV_VALUE = (rb"(?:=(?:\\?[\"'])?|[ \t]?=[ \t]?\\?[\"'])"
              rb"((?<=[\"'])[^\"'\\\r\n]+|(?<![\"'])[^\s\"'\\&;|<>`]+)")
# Where a JSON string value starts after `"name": ` in plain JSON, or after `\"name\": \"` in JSON
# held in a JSON string (tool-call arguments): there an inner `\"` ends the value.
_JSON_VALUE = (rb"((?<=\\\")(?:[^\"\\]|\\\\\\[\"\\]|\\\\[^\"\\]|\\[^\"\\])+"
               rb"|(?<!\\\")(?:[^\"\\]|\\.)+)\\?\"")
# A long random-looking run (letters and digits, 16+ bytes) after a credential word and `:`,
# `=` or ` is `, in any text (YAML, logs, `curl -v` output): `token: 9fK2...`.
_KEYED_VALUE = (rb"(?=[A-Za-z0-9+/_.~-]*[0-9])(?=[A-Za-z0-9+/_.~-]*[A-Za-z])"
                rb"([A-Za-z0-9+/_.~-]{16,}=*)")

# Where a token may start: not inside a word, and not right after a JSON escape backslash (so a
# replacement never produces an invalid escape like `\[`), but right after an escape such as
# `\n` (in JSON text `\nana@example.com` holds the address `ana@example.com`).
_S = rb"(?:(?<=\\[nrtbf])|(?<=\\\\)|(?<![A-Za-z0-9_\\]))"
_N = rb"(?:(?<=\\[nrtbf])|(?<=\\\\)|(?<![A-Za-z0-9_.+\\-]))"  # numbers: not inside a longer number

# Order matters only for ties at the same start: the more specific formats come first.
DEFAULT_PATTERNS: tuple[tuple[str, bytes], ...] = (
    ("anthropic_key", _S + rb"sk-ant-[A-Za-z0-9_-]{16,}"),
    ("openai_key", _S + rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
    ("aws_key", _S + rb"(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("github_token", _S + rb"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("slack_token", _S + rb"xox[bpars]-[A-Za-z0-9-]{10,}"),
    ("google_api_key", _S + rb"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    ("stripe_key", _S + rb"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"),
    ("huggingface_token", _S + rb"hf_[A-Za-z0-9]{30,}"),
    ("jwt", _S + rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # the key after its BEGIN line, up to its END line (both stay: the block still reads as a
    # key) or, in a cut-off printout, as far as it goes; lines end in a newline, or in `\n`
    # inside JSON text (`\\n` inside JSON held in JSON)
    ("private_key", rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
                    rb"((?:(?!-----END )(?:[A-Za-z0-9+/=:,. \t\r\n-]|\\+[nrt/]))+)"),
    ("bearer", rb"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)"),
    ("url_credentials", rb"://[^/\s:@\"']+:([^/\s@\"']+)@"),
    ("secret_field", rb"(?i)\\?\"" + CREDENTIAL_NAME + rb"\\?\"\s*:\s*\\?\"" + _JSON_VALUE),
    ("env_secret", _S + _ENV_NAME + _ENV_VALUE),
    # query strings, and a form body or config line whose first field is the secret (there
    # not `pwd`: `PWD=/home/ana` is a working directory)
    ("secret_param", rb"(?i)(?:(?<=[?&])(?:" + CREDENTIAL_NAME + rb"|key|sig|signature)|(?m:^)"
                     rb"[A-Za-z0-9_.-]*?(?:" + _CREDENTIAL_WORDS + rb"))=([^&#\s\"]+)"),
    ("keyed_secret", rb"(?i:(?:" + _CREDENTIAL_WORDS + rb")\\?[\"']?[ \t]*(?:[:=]|[ \t]is[ \t])"
                     rb"[ \t]*\\?[\"']?(?:(?:bearer|basic|token|digest)[ \t]+)?)" + _KEYED_VALUE),
    ("email", _S + rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ("card", _N + rb"[2-6](?:[ -]?[0-9]){12,18}(?![\w-])"),
    ("phone", _N + rb"(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?)?"
              rb"[0-9]{2,4}[ .-]?[0-9]{2,4}(?:[ .-]?[0-9]{2,4})?"
              rb"|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})(?![\w-])"),
)

VALIDATORS: dict[str, Callable[[bytes], bool]] = {"card": _card_ok}


@dataclass(frozen=True)
class RuleSet:
    """A complete set of redaction rules (defaults plus extras)."""

    headers: frozenset[str] = frozenset(DEFAULT_HEADERS)
    patterns: tuple[tuple[str, bytes], ...] = DEFAULT_PATTERNS
    json_paths: tuple[tuple[str, ...], ...] = ()
    source: dict[str, object] = field(default_factory=dict)

    @property
    def policy_id(self) -> str:
        """A stable hash of the rules (never of the key): goes into cassette headers."""
        doc = {
            "version": RULES_VERSION,
            "headers": sorted(self.headers),
            "patterns": [[n, p.decode("latin-1")] for n, p in self.patterns],
            "json_paths": [list(p) for p in self.json_paths],
        }
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        return f"redact-v{RULES_VERSION}-{digest[:16]}"


def parse_json_path(path: str) -> tuple[str, ...]:
    """`$.a.b[*].c` / `a.b.*.c` / `a[0]` → ("a", "b", "*", "c"); `*` matches any key/index."""
    p = path.strip()
    if p.startswith("$"):
        p = p[1:]
    p = p.lstrip(".")
    parts: list[str] = []
    for piece in re.split(r"\.(?![^\[]*\])", p):
        for m in re.finditer(r"([^\[\]]+)|\[([^\]]*)\]", piece):
            name = m.group(1) if m.group(1) is not None else m.group(2).strip("'\"")
            parts.append(name)
    if not parts or any(not x for x in parts):
        raise ValueError(path)
    return tuple(parts)


def load_rules(rules_file: str | None) -> RuleSet:
    """The default rules, extended by a TOML file when given; UsageError on a bad file."""
    if rules_file is None:
        return RuleSet()
    try:
        with open(rules_file, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"The redaction rules file {rules_file} cannot be read "
                         f"({exc.strerror}); check the path.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"The redaction rules file {rules_file} is not valid TOML ({exc}); "
                         "fix the syntax.") from exc
    section = doc.get("redaction", doc)
    headers = set(DEFAULT_HEADERS)
    headers.update(h.lower() for h in _strings(section, "headers", rules_file))
    disabled = set(_strings(section, "disable", rules_file))
    unknown = disabled - {n for n, _ in DEFAULT_PATTERNS}
    if unknown:
        raise UsageError(f"The redaction rules file {rules_file} disables unknown default "
                         f"pattern(s) {sorted(unknown)}; use names from docs/recording.md.")
    patterns = [(n, p) for n, p in DEFAULT_PATTERNS if n not in disabled]
    for i, entry in enumerate(section.get("patterns", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("regex"), str):
            raise UsageError(f"Pattern #{i + 1} in {rules_file} needs a `regex` string; add "
                             "`regex = \"...\"` (and optionally `name`).")
        name = str(entry.get("name") or f"custom{i + 1}")
        try:
            compiled = re.compile(entry["regex"].encode())
        except re.error as exc:
            raise UsageError(f"Pattern {name!r} in {rules_file} is not a valid regular "
                             f"expression ({exc}); fix it.") from exc
        if compiled.groups > 1:
            raise UsageError(f"Pattern {name!r} in {rules_file} has {compiled.groups} capture "
                             "groups; use at most one (the part to redact) or (?:...) groups.")
        patterns.append((name, entry["regex"].encode()))
    paths: list[tuple[str, ...]] = []
    for p in _strings(section, "json_paths", rules_file):
        try:
            paths.append(parse_json_path(p))
        except ValueError:
            raise UsageError(f"The JSON path {p!r} in {rules_file} is not valid; write it "
                             "like `user.ssn` or `$.items[*].token`.") from None
    return RuleSet(frozenset(headers), tuple(patterns), tuple(paths), {"file": rules_file})


def _strings(section: dict[str, object], key: str, rules_file: str) -> list[str]:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise UsageError(f"`{key}` in {rules_file} must be a list of strings; write it like "
                         f"`{key} = [\"...\"]`.")
    return list(value)

"""Redaction: canaries of every default kind never reach the cassette bytes; pseudonyms are
consistent and keyed; chunked streams and compressed bodies are covered; extra TOML rules."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.derive import derive_sessions
from recorder.errors import UsageError
from recorder.exchange import Exchange
from recorder.protocols import parse_exchange
from recorder.protocols.bodies import decode_body, encode_body
from recorder.redact import Redactor
from recorder.redact_rules import RuleSet, load_rules
from recorder.session import ContentPart, Message, Session, ToolCall, ToolResult
from recorder.testing import make_exchange, split_every, sse_events
from recorder.writer import CassetteWriter

KEY = b"k" * 32

CANARIES = {
    "openai": "sk-proj-Canary0penAIkey1234567890abcd",
    "openai_plain": "sk-Canary1plainOpenAIkey9876543210",
    "anthropic": "sk-ant-api03-CanaryAnthropicKey_0123456789",
    "aws": "AKIACANARY0123456789",
    "github": "ghp_Canary0GithubToken0123456789abcdefgh",
    "github_pat": "github_pat_11CANARY0123456789_abcdefghijklmnop",
    "slack": "xoxb-123456789012-canaryslacktoken",
    "google": "AIzaSyCanaryGoogleKey0123456789_abcdefg",
    "stripe": "sk_live_Canary0Stripe1Key2345678",
    "huggingface": "hf_CanaryHuggingFaceToken0123456789ab",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.Canary0JwtSignature12345",
    "private_key": ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                    "b3BlbnNzaC1rZXktdjEAAAAACanary0PrivateKey\nQyNTUxOQAAACBQ/+canary=\n"
                    "-----END OPENSSH PRIVATE KEY-----"),
    "bearer": "canary.generic.bearer.token.42",
    "email": "canary.person@example.org",
    "phone": "+1 415-555-0142",
    "card": "4242 4242 4242 4242",
}


def redactor(rules: RuleSet | None = None, key: bytes = KEY) -> Redactor:
    return Redactor(rules or RuleSet(), key)


def canary_exchange(i: int, chunk_size: int) -> Exchange:
    text = " and ".join(f"{k}: {v}" for k, v in CANARIES.items() if k != "bearer")
    pieces = [text]  # whole, then every canary streamed in three deltas
    for k, v in CANARIES.items():
        if k != "bearer":
            third = len(v) // 3
            pieces += [f" {k}: ", v[:third], v[third:2 * third], v[2 * third:]]
    stream = _chat_stream(pieces)
    return make_exchange(
        f"https://api.openai.com/v1/chat/completions?api_key={CANARIES['openai']}&q=1",
        id=f"ex-{i}",
        request_headers=[
            ("Authorization", f"Bearer {CANARIES['bearer']}"),
            ("x-api-key", CANARIES["anthropic"]),
            ("Cookie", f"session={CANARIES['github']}; theme=dark"),
            ("X-Contact", CANARIES["email"]),
        ],
        request_json={"messages": [{"role": "user", "content": text}],
                      "password": "canary-hunter2"},
        response_headers=[("content-type", "text/event-stream"),
                          ("Set-Cookie", f"sid={CANARIES['slack']}; Path=/; HttpOnly")],
        chunks=split_every(stream, chunk_size),
        session_hint=CANARIES["email"],
    )


def test_no_canary_survives_in_cassette_bytes(tmp_path: Path) -> None:
    r = redactor()
    path = os.path.join(str(tmp_path), "c.cassette")
    redacted = [r.redact_exchange(canary_exchange(i, size))
                for i, size in enumerate((1, 3, 7, 16, 64, 4096))]
    sessions = derive_sessions(redacted)  # reassembled streams: split canaries would show
    assert sessions and any(m.role == "assistant" for m in sessions[0].messages)
    with CassetteWriter(path, redaction_policy=r.policy_id) as w:
        w.write_many(redacted)
        w.write_many(sessions)
    data = Path(path).read_bytes()
    for name, value in [*CANARIES.items(), ("password", "canary-hunter2")]:
        assert value.encode() not in data, name
    assert b"4242424242424242" not in data
    for line in CANARIES["private_key"].split("\n")[1:-1]:  # the key, not its armour
        assert line.encode() not in data, line
    assert b"[REDACTED:email:" in data and b"[REDACTED:card:" in data
    assert b"[REDACTED:private_key:" in data and b"[REDACTED:jwt:" in data
    assert KEY not in data


def test_compressed_bodies_are_redacted_and_still_decode() -> None:
    r = redactor()
    body = json.dumps({"to": CANARIES["email"]}).encode()
    for enc in ("gzip", "deflate", "br", "zstd"):
        ex = make_exchange("https://x/y", request_body=encode_body(body, [enc]),
                           request_headers=[("Content-Encoding", enc)],
                           response_body=encode_body(body, [enc]),
                           response_headers=[("Content-Encoding", enc)])
        red = r.redact_exchange(ex)
        assert red.response is not None
        for raw in (red.request.body, red.response.body):
            plain = decode_body(raw, [enc])
            assert CANARIES["email"].encode() not in plain
            assert b"[REDACTED:email:" in plain
            json.loads(plain)


def test_compressed_stream_chunks_redacted_per_chunk() -> None:
    r = redactor()
    stream = sse_events([{"text": f"mail {CANARIES['email']} now"}] * 3)
    comp = encode_body(stream, ["gzip"])
    ex = make_exchange("https://x/y", chunks=split_every(comp, 5),
                       response_headers=[("content-encoding", "gzip")])
    red = r.redact_exchange(ex)
    assert red.response is not None and red.response.chunks is not None
    assert len(red.response.chunks) == len(split_every(comp, 5))
    plain = gzip.decompress(red.response.body)
    assert CANARIES["email"].encode() not in plain and plain.count(b"[REDACTED:email:") == 3


def test_undecodable_body_is_noted_not_raised() -> None:
    ex = make_exchange("https://x/y", response_body=b"not gzip " + CANARIES["email"].encode(),
                       response_headers=[("content-encoding", "gzip")])
    red = redactor().redact_exchange(ex)
    assert red.response is not None and CANARIES["email"].encode() not in red.response.body
    assert any("could not be decoded" in p for p in red.problems)


def test_pseudonyms_consistent_and_keyed() -> None:
    a, b = redactor(), redactor()
    t1 = a.redact_text(f"from {CANARIES['email']}")
    assert t1 == b.redact_text(f"from {CANARIES['email']}")
    assert a.redact_text(CANARIES["email"] + " again").startswith(t1.split(" ")[1])
    other = redactor(key=b"another-key-0123456789")
    assert other.redact_text(CANARIES["email"]) != a.redact_text(CANARIES["email"])
    assert other.policy_id == a.policy_id  # the policy id hashes rules, never the key
    # the same key in Authorization and in a body gets the same hash
    ex = make_exchange("https://x", request_headers=[("Authorization", "Bearer " +
                                                      CANARIES["openai"])],
                       request_json={"note": CANARIES["openai"]})
    red = a.redact_exchange(ex)
    token = re.search(rb"\[REDACTED:openai_key:[0-9a-f]+\]", red.request.body)
    assert token is not None
    assert red.request.headers[0][1] == "Bearer " + token.group().decode()


def test_redaction_is_idempotent() -> None:
    r = redactor()
    once = r.redact_exchange(canary_exchange(0, 5))
    assert r.redact_exchange(once) == once


def test_no_false_positives_on_ordinary_json() -> None:
    text = json.dumps({"created": 1732650000, "ms": 1732650000123, "id": "chatcmpl-abc123",
                       "uuid": "550e8400-e29b-41d4-a716-446655440000", "date": "2026-11-26",
                       "version": "1.2.3", "tokens": 12345678, "price": 4.99})
    assert redactor().redact_text(text) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
       st.sampled_from(sorted(CANARIES)))
def test_any_chunking_redacts_like_the_joined_stream(cuts: list[int], kind: str) -> None:
    r = redactor()
    data = sse_events([{"t": f"x {CANARIES[kind]} y {CANARIES[kind]}"}]).replace(
        b"x ", b"Bearer " if kind == "bearer" else b"x ")
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(data[pos : pos + c])
        pos += c
    chunks.append(data[pos:])
    red = r.redact_chunks(chunks)
    assert len(red) == len(chunks)
    assert b"".join(red) == r.redact_bytes(data)
    assert CANARIES[kind].encode() not in b"".join(red)


def test_extra_rules_from_toml(tmp_path: Path) -> None:
    path = os.path.join(str(tmp_path), "rules.toml")
    with open(path, "w") as f:
        f.write('[redaction]\nheaders = ["X-Customer"]\njson_paths = ["customer.ssn", '
                '"items[*].acct"]\ndisable = ["phone"]\n[[redaction.patterns]]\nname = '
                '"ticket"\nregex = "TCK-[0-9]{6}"\n')
    r = Redactor.from_config(path, key=KEY)
    assert r.policy_id != redactor().policy_id
    body = {"customer": {"ssn": "123-45-6789", "n": 1}, "items": [{"acct": 998877}],
            "note": "see TCK-123456, call +1 415-555-0142", "echo": "123-45-6789"}
    ex = make_exchange("https://x", request_json=body, request_headers=[("X-Customer", "c-42")])
    red = r.redact_exchange(ex)
    doc = json.loads(red.request.body)
    assert doc["customer"]["ssn"].startswith("[REDACTED:json_path:")
    assert doc["echo"] == doc["customer"]["ssn"]  # literal value redacted everywhere
    assert doc["items"][0]["acct"].startswith("[REDACTED:json_path:")
    assert "TCK-" not in doc["note"] and "415-555-0142" in doc["note"]  # phone disabled
    assert red.request.headers[0][1].startswith("[REDACTED:")
    # the same rules on parsed JSON (sessions)
    assert r.redact_json(body)["customer"]["ssn"] == doc["customer"]["ssn"]


@pytest.mark.parametrize("content, needle", [
    ("headers = 3", "list of strings"),
    ("[[patterns]]\nregex = '('", "not a valid regular expression"),
    ("json_paths = ['']", "not valid"),
    ("disable = ['nope']", "unknown default"),
    ("x = [", "not valid TOML"),
])
def test_bad_rules_file_says_what_to_fix(tmp_path: Path, content: str, needle: str) -> None:
    path = os.path.join(str(tmp_path), "rules.toml")
    with open(path, "w") as f:
        f.write(content)
    with pytest.raises(UsageError, match=needle):
        load_rules(path)
    with pytest.raises(UsageError, match="cannot be read"):
        load_rules(path + ".missing")


def test_redact_session_covers_messages_tool_calls_and_results() -> None:
    r = redactor()
    s = Session(id="s1", messages=[
        Message(role="user", content=[ContentPart(text=f"I am {CANARIES['email']}")]),
        Message(role="assistant", tool_calls=[ToolCall(
            id="c1", name="lookup", arguments={"email": CANARIES["email"]},
            arguments_raw=json.dumps({"email": CANARIES["email"]}))]),
        Message(role="tool", tool_call_id="c1", result=ToolResult(
            content=f"card {CANARIES['card']}", structured={"card": CANARIES["card"]})),
    ], params={"user": CANARIES["email"]})
    red = r.redact_session(s)
    dumped = red.model_dump_json()
    assert CANARIES["email"] not in dumped and CANARIES["card"] not in dumped
    token = r.redact_text(CANARIES["email"])
    assert red.messages[1].tool_calls[0].arguments == {"email": token}
    assert red.messages[0].text == f"I am {token}"


def _chat_stream(pieces: list[str]) -> bytes:
    chunks = [{"id": "c", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
              for p in pieces]
    chunks.append({"id": "c", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return sse_events(chunks, done=True)


def _anthropic_stream(pieces: list[str]) -> bytes:
    events: list[Any] = [{"type": "message_start", "message": {
        "id": "m", "type": "message", "role": "assistant", "content": [], "usage": {}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text",
                                                                       "text": ""}}]
    events += [{"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": p}} for p in pieces]
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
               {"type": "message_stop"}]
    return sse_events(events, named=True)


@pytest.mark.parametrize("kind", ["chat", "anthropic"])
def test_secret_streamed_token_by_token_is_redacted(kind: str) -> None:
    secret = CANARIES["email"]
    pieces = ["Write to ", secret[:4], secret[4:9], secret[9:], " or call ",
              CANARIES["phone"][:6], CANARIES["phone"][6:], ". Done."]
    data = _chat_stream(pieces) if kind == "chat" else _anthropic_stream(pieces)
    url = ("https://api.openai.com/v1/chat/completions" if kind == "chat"
           else "https://api.anthropic.com/v1/messages")
    req = {"model": "m", "max_tokens": 5, "messages": [], "stream": True}
    ex = make_exchange(url, request_json=req, chunks=split_every(data, 37))
    red = redactor().redact_exchange(ex)
    assert red.response is not None and red.response.chunks is not None
    assert len(red.response.chunks) == len(ex.response.chunks)  # type: ignore[union-attr,arg-type]
    parsed = parse_exchange(red)
    assert parsed.problems == [] and parsed.llm is not None
    text = parsed.llm.outputs[0].text
    assert secret not in text and CANARIES["phone"] not in text
    assert text == (f"Write to {redactor().redact_text(secret)} or call "
                    f"{redactor().redact_text(CANARIES['phone'])}. Done.")
    # the pieces are gone from the raw bytes too, not just from the reassembled text
    raw = red.response.body
    assert secret[4:9].encode() not in raw and secret[9:].encode() not in raw
    assert redactor().redact_exchange(red) == red  # idempotent


# -- credentials found by their context (issue 16, item 9) -----------------------------------

def _redacted_request(body: bytes, content_type: str) -> bytes:
    ex = make_exchange("https://auth.example.com/oauth/token", request_body=body,
                       request_headers=[("Content-Type", content_type)])
    return redactor().redact_exchange(ex).request.body


@pytest.mark.parametrize("body, secret", [
    (b"client_secret=cs-0123456789abcdef&grant_type=client_credentials", b"cs-0123456789abcdef"),
    (b"token=revoke-me-0123456&token_type_hint=refresh_token", b"revoke-me-0123456"),
    (b"password=hunter2&username=ana", b"hunter2"),
])
def test_a_form_body_starting_with_the_secret(body: bytes, secret: bytes) -> None:
    red = _redacted_request(body, "application/x-www-form-urlencoded")
    assert secret not in red and b"[REDACTED:" in red
    assert red.split(b"&", 1)[1] == body.split(b"&", 1)[1]  # the other fields stay


@pytest.mark.parametrize("name", ["token", "secret_key", "x-api-key", "X_API_KEY", "Secret-Key",
                                  "accessToken", "githubToken", "client-secret", "DB_PASSWORD",
                                  "credentials", "Authorization", "id_token"])
def test_json_fields_with_credential_names(name: str) -> None:
    value = "v4lue-of-" + name
    body = json.dumps({name: value, "max_tokens": 512, "token_type": "bearer",
                       "usage": {"prompt_tokens": 12}, "keyboard": "qwerty"}).encode()
    red = _redacted_request(body, "application/json")
    assert value.encode() not in red
    doc = json.loads(red)
    assert doc[name].startswith("[REDACTED:secret_field:")
    assert doc["token_type"] == "bearer" and doc["keyboard"] == "qwerty"  # not credentials
    # JSON inside a JSON string (tool-call arguments) too
    nested = json.dumps({"arguments": json.dumps({name: value, "q": "weather"})}).encode()
    red = _redacted_request(nested, "application/json")
    assert value.encode() not in red
    assert json.loads(json.loads(red)["arguments"])["q"] == "weather"


@pytest.mark.parametrize("key", [rb"\u0074oken", rb"api\u005fkey", rb"\u0053ECRET",
                                 rb"x-api-\u006b\u0065\u0079", rb"pass\u0077ord"])
def test_json_keys_spelled_with_unicode_escapes(key: bytes) -> None:
    body = b'{"model": "m", "caf\\u00e9": "cr\\u00e8me", "' + key + b'": "esc4ped-s3cret"}'
    assert json.loads(body)  # valid JSON whose key, decoded, is a credential name
    red = _redacted_request(body, "application/json")
    assert b"esc4ped-s3cret" not in red
    doc = json.loads(red)
    assert doc["model"] == "m" and doc["caf\u00e9"] == "cr\u00e8me"


_DOTENV = ('API_KEY=a1b2c3d4e5f6g7h8\nDATABASE_PASSWORD=hunter2\n'
           'export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n'
           'JWT_SECRET="two words here"\nSTRIPE_TOKEN=\'tok_quoted_value\'\n'
           'DEBUG=true\nPWD=/home/ana\nMAX_TOKENS=100\nPATH=/usr/bin\n')
_DOTENV_SECRETS = ["a1b2c3d4e5f6g7h8", "hunter2", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                   "two words here", "tok_quoted_value"]
_DOTENV_KEPT = ["DEBUG=true", "PWD=/home/ana", "MAX_TOKENS=100", "PATH=/usr/bin"]


def test_dotenv_lines_in_a_tool_result_and_in_messages() -> None:
    r = redactor()
    mcp = {"jsonrpc": "2.0", "id": 3, "result": {"content": [
        {"type": "text", "text": "$ cat .env\n" + _DOTENV}], "isError": False}}
    chat = {"model": "m", "messages": [{"role": "user", "content": "my .env is:\n" + _DOTENV}]}
    ex = make_exchange("https://api.openai.com/v1/chat/completions", request_json=chat,
                       response_json=mcp)
    red = r.redact_exchange(ex)
    assert red.response is not None
    for raw in (red.request.body, red.response.body):
        for secret in _DOTENV_SECRETS:
            assert secret.encode() not in raw, secret
        text = json.dumps(json.loads(raw))
        for kept in _DOTENV_KEPT:
            assert kept in text, kept
    # the same text in a session (an import): real newlines, real quotes
    s = r.redact_session(Session(id="s", messages=[
        Message(role="user", content=[ContentPart(text=_DOTENV)]),
        Message(role="tool", tool_call_id="c", result=ToolResult(content=_DOTENV))]))
    dumped = s.model_dump_json()
    for secret in _DOTENV_SECRETS:
        assert secret not in dumped, secret
    assert all(kept in s.messages[0].text for kept in _DOTENV_KEPT)


@pytest.mark.parametrize("text, secret", [
    ("curl -v ...\n> Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==\n", "dXNlcjpwYXNzd29yZDEyMw=="),
    ("config.yaml:\n  token: 9fK2xQ7bLm3Np8Rt5Vw\n", "9fK2xQ7bLm3Np8Rt5Vw"),
    ("< x-api-key: 4f9a8b7c6d5e4f3a2b1c0d9e\n", "4f9a8b7c6d5e4f3a2b1c0d9e"),
    ("the secret is Zx81Kq02LmN7pQ4rT9 keep it safe", "Zx81Kq02LmN7pQ4rT9"),
    ("{'api_key': 'c2VjcmV0LWtleS0xMjM0NTY3OA'}", "c2VjcmV0LWtleS0xMjM0NTY3OA"),
])
def test_random_strings_in_credential_contexts(text: str, secret: str) -> None:
    red = redactor().redact_text(text)
    assert secret not in red and "[REDACTED:" in red


@pytest.mark.parametrize("text", [
    "commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\nAuthor: Ana <ana>\n",
    "GET /v1/files/550e8400-e29b-41d4-a716-446655440000/content",
    "the token count was 4096; max_tokens: 8192; secret: sauce; password: please",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "def connect(host, password=None, api_key=api_key): return Client(token=token)",
    "SORT_ORDER = 'asc'\nkey=value\nmonkey=banana",
    # near the newer key formats: public keys, library names, bare prefixes
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1L\n"
    "-----END PUBLIC KEY-----\n",
    "from huggingface_hub import hf_hub_download; hf_hub_download(repo_id='x')",
    "stripe.api_key = settings.STRIPE; mode=sk_test; JSON starts with eyJ in base64",
    "the AIza prefix marks a Google key; AIzaShort is not one",
])
def test_no_false_positives_in_ordinary_text(text: str) -> None:
    assert redactor().redact_text(text) == text


_KEY_LINES = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7canary",
              "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8=")
_PEM = ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n" + "\n".join(_KEY_LINES)
        + "\n-----END RSA PRIVATE KEY-----\n")


@pytest.mark.parametrize("how", ["text", "json", "json in json", "crlf", "cut off"])
def test_a_private_key_block_keeps_its_armour_and_loses_its_key(how: str) -> None:
    pem = _PEM.replace("\n", "\r\n") if how == "crlf" else _PEM
    if how == "cut off":  # `head -c` of a key file, in a tool result: no END line
        text = json.dumps({"content": pem.split("\n-----END")[0]})
        red = redactor().redact_text(text)
        assert not any(line in red for line in _KEY_LINES) and "[REDACTED:private_key:" in red
        json.loads(red)
        return
    text = f"$ cat ~/.ssh/id_rsa\n{pem}$ "
    if how != "text":
        text = json.dumps({"content": text})
    if how == "json in json":
        text = json.dumps({"arguments": text})
    red = redactor().redact_text(text)
    for line in _KEY_LINES:
        assert line not in red
    assert "-----BEGIN RSA PRIVATE KEY-----" in red and "-----END RSA PRIVATE KEY-----" in red
    assert "[REDACTED:private_key:" in red and "cat ~/.ssh/id_rsa" in red
    if how != "text":
        json.loads(red)  # still a JSON document

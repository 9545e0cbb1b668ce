"""The redaction key: resolution order, one key per corpus found again by every write into it
(never stored in the corpus), mismatching keys refused, pseudonyms consistent."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.corpus import Corpus
from recorder.corpus_marker import MARKER_NAME, read_marker
from recorder.errors import UsageError
from recorder.importers.write import import_file
from recorder.redact import Redactor
from recorder.redact_key import corpus_key_path, fingerprint, resolve_key
from recorder.redact_rules import RuleSet
from recorder.rederive import rederive
from recorder.session import ContentPart, Message, Session
from recorder.testing import make_exchange
from recorder.writer import CassetteWriter

KEY = b"k" * 32
EMAIL = "ana.lopez@example.com"


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh config dir and no key in the environment: keys come from the corpus."""
    path = tmp_path / "config"
    monkeypatch.setenv("DEPLOYSIM_CONFIG_DIR", str(path))
    monkeypatch.delenv("DEPLOYSIM_REDACTION_KEY", raising=False)
    monkeypatch.delenv("DEPLOYSIM_REDACTION_KEY_FILE", raising=False)
    return path


def test_key_resolution_order(tmp_path: Path, config_dir: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = resolve_key()
    path = config_dir / "redaction.key"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert resolve_key() == first  # created once, reused
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "from-env")
    assert resolve_key() == b"from-env"
    assert resolve_key(b"explicit") == b"explicit"
    monkeypatch.delenv("DEPLOYSIM_REDACTION_KEY")
    keyfile = tmp_path / "other.key"
    keyfile.write_text("0123456789abcdef0123\n")
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY_FILE", str(keyfile))
    assert resolve_key() == b"0123456789abcdef0123"
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY_FILE", str(keyfile) + ".missing")
    with pytest.raises(UsageError, match="cannot be read"):
        resolve_key()


def test_a_corpus_gets_its_own_key_outside_the_folder(tmp_path: Path, config_dir: Path) -> None:
    corpus = str(tmp_path / "corpus")
    key = resolve_key(corpus=corpus)
    marker = read_marker(corpus)
    assert marker is not None and marker.key_fingerprint == fingerprint(key)
    key_file = corpus_key_path(marker.corpus_id)
    assert key_file.startswith(str(config_dir))
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(key_file)).st_mode & 0o777 == 0o700
    assert resolve_key(corpus=corpus) == key  # found again
    assert os.listdir(corpus) == [MARKER_NAME]  # only the marker: no key, no temporary file
    assert key not in (Path(corpus) / MARKER_NAME).read_bytes()
    other = resolve_key(corpus=str(tmp_path / "other"))
    assert other != key and other != resolve_key()  # neither another corpus's nor the global


def _jsonl(path: Path, text: str) -> str:
    line = {"messages": [{"role": "user", "content": text},
                         {"role": "assistant", "content": "ok"}]}
    path.write_text(json.dumps(line) + "\n")
    return str(path)


def _tokens(paths: list[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        out.update(re.findall(r"\[REDACTED:email:[0-9a-f]{12}\]", Path(path).read_text(
            "latin-1")))
    return out


def test_writes_into_one_corpus_share_pseudonyms_without_any_env(tmp_path: Path) -> None:
    out = str(tmp_path / "corpus")
    first, _ = import_file("openai-jsonl", _jsonl(tmp_path / "a.jsonl", f"I am {EMAIL}"), out)
    second, _ = import_file("openai-jsonl", _jsonl(tmp_path / "b.jsonl", f"mail {EMAIL}"), out)
    # a recording: the sink resolves the folder's key the same way (`resolve_key(corpus=out)`)
    recorder = Redactor.from_config(corpus=out)
    recorded = os.path.join(out, "record.cassette")
    with CassetteWriter(recorded, redaction_policy=recorder.policy_id) as w:
        w.write(recorder.redact_exchange(make_exchange(
            "https://x/v1/chat/completions", request_json={"to": EMAIL})))
    tokens = [_tokens([p]) for p in (first, second, recorded)]
    assert tokens[0] == tokens[1] == tokens[2] and len(tokens[0]) == 1
    assert len(Corpus(out).paths) == 3  # the marker is not read as a cassette
    elsewhere, _ = import_file("openai-jsonl", _jsonl(tmp_path / "c.jsonl", EMAIL),
                               str(tmp_path / "other"))
    assert _tokens([elsewhere]) != tokens[0]


def test_an_older_corpus_adopts_the_global_key(tmp_path: Path) -> None:
    out = tmp_path / "old"
    out.mkdir()
    with CassetteWriter(str(out / "rec.cassette")) as w:
        w.write(make_exchange("https://x"))
    assert resolve_key(corpus=str(out)) == resolve_key()
    assert read_marker(str(out)) is not None


def test_a_different_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = str(tmp_path / "corpus")
    key = resolve_key(corpus=corpus)
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "some-other-key-0123456789")
    with pytest.raises(UsageError, match=r"corpus .* was redacted with another key .*"
                                         r"DEPLOYSIM_REDACTION_KEY"):
        resolve_key(corpus=corpus)
    with pytest.raises(UsageError, match="another key"):
        resolve_key(b"explicit-but-wrong-0123", corpus=corpus)
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", key.decode())
    assert resolve_key(corpus=corpus) == key  # the right key by env is accepted


def test_an_env_key_is_remembered_and_its_absence_explained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = str(tmp_path / "corpus")
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "hand-set-key-0123456789")
    assert resolve_key(corpus=corpus) == b"hand-set-key-0123456789"
    monkeypatch.delenv("DEPLOYSIM_REDACTION_KEY")
    with pytest.raises(UsageError, match="copy this corpus's key file"):
        resolve_key(corpus=corpus)  # never a fresh key for a corpus already written


def test_a_moved_corpus_works_with_its_key_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = str(tmp_path / "corpus")
    key = resolve_key(corpus=corpus)
    marker = read_marker(corpus)
    assert marker is not None
    copied = tmp_path / "copied.key"
    copied.write_bytes(Path(corpus_key_path(marker.corpus_id)).read_bytes())
    monkeypatch.setenv("DEPLOYSIM_CONFIG_DIR", str(tmp_path / "another-machine"))
    with pytest.raises(UsageError, match="copy this corpus's key file"):
        resolve_key(corpus=corpus)
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY_FILE", str(copied))
    assert resolve_key(corpus=corpus) == key


def test_a_damaged_marker_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / MARKER_NAME).write_text("{not json")
    with pytest.raises(UsageError, match=r"corpus marker .* cannot be read"):
        resolve_key(corpus=str(corpus))


def test_an_unwritable_folder_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="Cannot write the corpus marker"):
        resolve_key(corpus=str(blocker / "corpus"))


def test_concurrent_first_writes_agree_on_one_key(tmp_path: Path) -> None:
    corpus = str(tmp_path / "corpus")
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(resolve_key(corpus=corpus)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    marker = read_marker(corpus)
    assert marker is not None
    assert os.listdir(os.path.dirname(corpus_key_path(marker.corpus_id))) == [
        f"{marker.corpus_id}.key"]  # the losers' keys were removed


def test_a_url_corpus_gets_a_marker_too() -> None:
    corpus = "memory://redact-key-test/corpus"
    key = resolve_key(corpus=corpus)
    assert resolve_key(corpus=corpus) == key
    marker = read_marker(corpus)
    assert marker is not None and marker.key_fingerprint == fingerprint(key)
    with CassetteWriter(corpus + "/a.cassette") as w:
        w.write(make_exchange("https://x"))
    # fsspec globs match dotfiles: the corpus still names only the cassette
    assert [p.rsplit("/", 1)[-1] for p in Corpus(corpus + "/*").paths] == ["a.cassette"]


def test_derive_writes_with_its_out_folders_key(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    with CassetteWriter(str(source / "rec.cassette")) as w:
        w.write(make_exchange("https://x"))
    out = str(tmp_path / "derived")
    rederive(str(source), out)
    marker = read_marker(out)
    assert marker is not None and os.path.exists(corpus_key_path(marker.corpus_id))


_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters="\\\""),
                  min_size=1, max_size=24)


@settings(max_examples=60, deadline=None)
@given(_VALUES, _VALUES)
def test_pseudonyms_are_consistent(a: str, b: str) -> None:
    one, two = Redactor(RuleSet(), KEY), Redactor(RuleSet(), KEY)
    ta, tb = one.token("x", a.encode()), one.token("x", b.encode())
    assert (ta == tb) == (a == b)  # same value same token, different values different tokens
    assert two.token("x", a.encode()) == ta  # stable across instances of one key
    assert Redactor(RuleSet(), b"another-key-0123456789").token("x", a.encode()) != ta
    ta = one.token(one._classify(a.encode(), b"secret_field"), a.encode())
    # the same value in a recorded exchange and in a session gets the same pseudonym
    ex = one.redact_exchange(make_exchange("https://x", request_json={"token": a}))
    s = two.redact_session(Session(id="s", messages=[
        Message(role="user", content=[ContentPart(text="see")])], params={"token": a}))
    assert json.loads(ex.request.body)["token"] == s.params["token"] == ta.decode()

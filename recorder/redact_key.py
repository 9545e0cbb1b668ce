"""Where the redaction key comes from. The key makes pseudonyms consistent across a corpus
(same value → same token) without being reversible; it is never written into a cassette.

Order: an explicit key; env `DEPLOYSIM_REDACTION_KEY`; the file named by env
`DEPLOYSIM_REDACTION_KEY_FILE`; then, when writing into a corpus folder, **the corpus's own
key**; else (no corpus named) `redaction.key` in the deploysim config directory
(`DEPLOYSIM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/deploysim`, else `~/.config/deploysim`),
created once with 32 random bytes and mode 0600.

A corpus's key lives in the config directory, `keys/<corpus id>.key` (mode 0600, folder 0700),
never in the corpus folder, so copying or uploading a corpus does not carry its key. The folder
holds only a marker (`recorder.corpus_marker`: the corpus id and the key's fingerprint). The
first write into a folder creates both; a folder of cassettes recorded before markers existed
adopts the global `redaction.key` it was recorded with. Whichever key is resolved for a corpus,
its fingerprint must be the marker's, else the write is refused (UsageError).

    >>> resolve_key(corpus="recordings/")           # doctest: +SKIP
    b'5f0c...'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from recorder.corpus_marker import (
    CorpusMarker,
    create_once,
    has_cassettes,
    read_marker,
    write_marker,
)
from recorder.errors import UsageError

KEY_ENV = "DEPLOYSIM_REDACTION_KEY"
KEY_FILE_ENV = "DEPLOYSIM_REDACTION_KEY_FILE"
CONFIG_DIR_ENV = "DEPLOYSIM_CONFIG_DIR"


def config_dir() -> str:
    """The deploysim config directory (not created)."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "deploysim")


def fingerprint(key: bytes) -> str:
    """16 hex digits that tell keys apart without revealing them (an HMAC of a fixed text)."""
    return hmac.new(key, b"deploysim key check", hashlib.sha256).hexdigest()[:16]


def corpus_key_path(corpus_id: str) -> str:
    """Where the key of the corpus with this id lives."""
    return os.path.join(config_dir(), "keys", f"{corpus_id}.key")


def _read_key_file(path: str, fix: str) -> bytes:
    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except OSError as exc:
        raise UsageError(f"The redaction key file {path} cannot be read ({exc.strerror}); "
                         f"{fix}.") from exc
    if len(key) < 16:
        raise UsageError(f"The redaction key file {path} holds fewer than 16 bytes; put a long "
                         "random key in it (e.g. `openssl rand -hex 32`).")
    return key


def _new_key_file(path: str, key: bytes) -> bool:
    """Create a key file (mode 0600, its folder 0700) unless it exists; False if it did."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return create_once(path, key, 0o600)
    except OSError as exc:
        raise UsageError(f"Cannot create the redaction key file {path} ({exc.strerror}); set "
                         f"{KEY_ENV} or {KEY_FILE_ENV}, or make {config_dir()} writable.") from exc


def _global_key() -> bytes:
    """`redaction.key` in the config directory, created on first use."""
    path = os.path.join(config_dir(), "redaction.key")
    if not os.path.exists(path):
        _new_key_file(path, secrets.token_hex(32).encode())  # or another process was first
    return _read_key_file(path, f"fix it, or set {KEY_ENV} or {KEY_FILE_ENV}")


def _external_key(key: bytes | None) -> tuple[bytes, str] | None:
    """A key given explicitly or by the environment, with the words that name its source."""
    if key is not None:
        return key, "the key given"
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode(), f"the key in {KEY_ENV}"
    path = os.environ.get(KEY_FILE_ENV)
    if path:
        return _read_key_file(path, f"fix the path in {KEY_FILE_ENV} or unset it"), \
            f"the key file {path} ({KEY_FILE_ENV})"
    return None


def resolve_key(key: bytes | None = None, *, corpus: str | None = None) -> bytes:
    """The redaction key by the order above; `corpus` is the folder about to be written to."""
    external = _external_key(key)
    if corpus is None:
        return external[0] if external is not None else _global_key()
    marker = read_marker(corpus)
    if external is not None:
        found, source = external
        if marker is None:  # remembered, so a later write with another key is refused
            marker = write_marker(corpus, CorpusMarker(key_fingerprint=fingerprint(found)))
    else:
        marker = marker or _new_corpus(corpus)
        path = corpus_key_path(marker.corpus_id)
        fix = (f"copy this corpus's key file from the machine that recorded it to {path}, or "
               f"set {KEY_FILE_ENV} to it")
        found, source = _read_key_file(path, fix), f"its key file {path}"
    if fingerprint(found) != marker.key_fingerprint:
        raise UsageError(
            f"The corpus {corpus} was redacted with another key than {source} (fingerprint "
            f"{fingerprint(found)}, the corpus's is {marker.key_fingerprint}); use the corpus's "
            f"own key: copy it to {corpus_key_path(marker.corpus_id)} or set {KEY_FILE_ENV} to "
            f"it (and unset {KEY_ENV}), or write to another folder.")
    return found


def _new_corpus(corpus: str) -> CorpusMarker:
    """Give a folder its key and marker: a new random key, or for cassettes recorded before
    markers existed, the global key they were recorded with."""
    found = _global_key() if has_cassettes(corpus) else secrets.token_hex(32).encode()
    mine = CorpusMarker(key_fingerprint=fingerprint(found))
    path = corpus_key_path(mine.corpus_id)
    _new_key_file(path, found)
    marker = write_marker(corpus, mine)
    if marker.corpus_id != mine.corpus_id:  # another process made it first: its key is the one
        os.unlink(path)
    return marker

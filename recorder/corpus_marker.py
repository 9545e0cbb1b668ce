"""A corpus folder's marker: which redaction key its pseudonyms were made with, nothing secret.

`<corpus>/.deploysim-corpus.json` holds a random corpus id (naming the key file in the config
directory, `recorder.redact_key`) and the key's fingerprint, so every recording and import into
the folder finds the same key, and a different key is refused instead of silently giving other
pseudonyms. Corpus readers only read `*.cassette` files, so they never see it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recorder import storage
from recorder.errors import UsageError
from recorder.writer import SUFFIX

MARKER_NAME = ".deploysim-corpus.json"


class CorpusMarker(BaseModel):
    """The non-secret identity of a corpus folder."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["deploysim-corpus"] = "deploysim-corpus"
    """What this file is, for a person who finds it."""
    version: Literal[1] = 1
    """Format version of this file."""
    corpus_id: str = Field(default_factory=lambda: secrets.token_hex(16),
                           pattern=r"^[0-9a-f]{32}$")
    """Random; the corpus's key is `keys/<corpus_id>.key` in the deploysim config directory."""
    key_fingerprint: str = Field(pattern=r"^[0-9a-f]{16}$")
    """`recorder.redact_key.fingerprint` of the key: tells a key apart, reveals nothing of it."""


def marker_path(corpus: str) -> str:
    return storage.join(corpus, MARKER_NAME)


def read_marker(corpus: str) -> CorpusMarker | None:
    """The corpus folder's marker, None when it has none; UsageError when it is damaged."""
    path = marker_path(corpus)
    if not storage.exists(path):
        return None
    try:
        with storage.open_binary(path, "rb") as f:
            return CorpusMarker.model_validate_json(f.read())
    except (OSError, ValidationError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a valid marker"
        raise UsageError(f"The corpus marker {path} cannot be read ({reason}); restore it from "
                         "the place this corpus was copied from.") from exc


def write_marker(corpus: str, marker: CorpusMarker) -> CorpusMarker:
    """Give the corpus `marker` unless it has one already; the marker it ends up with.

    Local folders: atomic and race-safe (two recorders starting at once agree on one marker).
    fsspec URLs have no exclusive create: the marker is written, then read back, so a
    concurrent first write is at least noticed by the one that lost."""
    path = marker_path(corpus)
    data = marker.model_dump_json(indent=2).encode() + b"\n"
    try:
        if storage.is_url(corpus):
            storage.makedirs(corpus)
            if not storage.exists(path):
                with storage.open_binary(path, "wb") as f:
                    f.write(data)
        else:
            os.makedirs(corpus, exist_ok=True)
            create_once(path, data, 0o644)
    except OSError as exc:
        raise UsageError(f"Cannot write the corpus marker {path} ({exc.strerror or exc}); make "
                         f"{corpus} writable or choose another --out folder.") from exc
    found = read_marker(corpus)
    assert found is not None
    return found


def has_cassettes(corpus: str) -> bool:
    """True when the folder (or anything below it) holds a cassette."""
    if storage.is_url(corpus):
        return storage.isdir(corpus) and any(
            p.endswith(SUFFIX) for p in storage.listdir_files(corpus))
    return any(f.endswith(SUFFIX) for _root, _dirs, files in os.walk(corpus) for f in files)


def create_once(path: str, data: bytes, mode: int) -> bool:
    """Create the local file `path` holding `data` with `mode`, only if it does not exist yet;
    False when it did (another process was first).

    The bytes go to a temporary file that is then hard-linked into place, so no reader ever
    sees the file half-written; where hard links are not supported, an exclusive create."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:
            return _create_exclusive(path, data, mode)
        return True
    finally:
        os.unlink(tmp)


def _create_exclusive(path: str, data: bytes, mode: int) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True

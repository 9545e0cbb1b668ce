"""Where the redaction key comes from. The key makes pseudonyms consistent across a corpus
(same value → same token) without being reversible; it is never written into a cassette.

Order: an explicit key; env `DEPLOYSIM_REDACTION_KEY`; the file named by env
`DEPLOYSIM_REDACTION_KEY_FILE`; else `redaction.key` in the deploysim config directory
(`DEPLOYSIM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/deploysim`, else `~/.config/deploysim`),
created once with 32 random bytes and mode 0600.
"""

from __future__ import annotations

import os
import secrets

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


def _read_key_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except OSError as exc:
        raise UsageError(f"The redaction key file {path} cannot be read ({exc.strerror}); "
                         f"fix the path in {KEY_FILE_ENV} or unset it.") from exc
    if len(key) < 16:
        raise UsageError(f"The redaction key file {path} holds fewer than 16 bytes; put a long "
                         "random key in it (e.g. `openssl rand -hex 32`).")
    return key


def resolve_key(key: bytes | None = None) -> bytes:
    """The redaction key by the order above; creates the default key file if needed."""
    if key is not None:
        return key
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = os.environ.get(KEY_FILE_ENV)
    if path:
        return _read_key_file(path)
    path = os.path.join(config_dir(), "redaction.key")
    if os.path.exists(path):
        return _read_key_file(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _read_key_file(path)
    except OSError as exc:
        raise UsageError(f"Cannot create the redaction key file {path} ({exc.strerror}); set "
                         f"{KEY_ENV} or {KEY_FILE_ENV}, or make {config_dir()} writable.") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_hex(32).encode())
    return _read_key_file(path)

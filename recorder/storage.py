"""Where cassette bytes live: local paths by default, any fsspec URL (memory://, s3://, gs://)."""

from __future__ import annotations

import glob as _glob
import os
from typing import IO, Any

import fsspec


def is_url(path: str) -> bool:
    """True for `scheme://...` paths other than file://."""
    return "://" in path and not path.startswith("file://")


def open_binary(path: str, mode: str) -> IO[bytes]:
    """Open a cassette for binary reading ('rb') or appending/writing ('ab', 'wb')."""
    if is_url(path):
        f: Any = fsspec.open(path, mode).open()
        return f  # type: ignore[no-any-return,unused-ignore]
    return open(path, mode)


def exists(path: str) -> bool:
    if is_url(path):
        fs, p = fsspec.core.url_to_fs(path)
        return bool(fs.exists(p))
    return os.path.exists(path)


def isdir(path: str) -> bool:
    if is_url(path):
        fs, p = fsspec.core.url_to_fs(path)
        return bool(fs.isdir(p))
    return os.path.isdir(path)


def size(path: str) -> int:
    if is_url(path):
        fs, p = fsspec.core.url_to_fs(path)
        return int(fs.size(p))
    return os.path.getsize(path)


def makedirs(path: str) -> None:
    if is_url(path):
        fs, p = fsspec.core.url_to_fs(path)
        fs.makedirs(p, exist_ok=True)
    else:
        os.makedirs(path, exist_ok=True)


def join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name if is_url(base) else os.path.join(base, name)


def glob(pattern: str) -> list[str]:
    """Expand a glob; URLs keep their scheme."""
    if is_url(pattern):
        fs, p = fsspec.core.url_to_fs(pattern)
        protocol = pattern.split("://", 1)[0]
        return sorted(f"{protocol}://{m.lstrip('/')}" if protocol != "memory" else f"memory://{m}"
                      for m in fs.glob(p))
    return sorted(_glob.glob(pattern, recursive=True))


def listdir_files(path: str) -> list[str]:
    """Every file below a folder, recursively, sorted."""
    if is_url(path):
        fs, p = fsspec.core.url_to_fs(path)
        protocol = path.split("://", 1)[0]
        out = []
        for f in fs.find(p):
            out.append(f"memory://{f}" if protocol == "memory" else f"{protocol}://{f.lstrip('/')}")
        return sorted(out)
    found: list[str] = []
    for root, _dirs, files in os.walk(path):
        found.extend(os.path.join(root, f) for f in files)
    return sorted(found)

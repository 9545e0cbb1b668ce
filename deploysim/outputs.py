"""Where a command writes: refuse an output folder or file that cannot be written, before the
command reads, computes or records anything (exit 2, one sentence, nothing created).

Checked by trying, not by asking: `os.access` says yes to root everywhere and to anyone on a
read-only or virtual filesystem (/proc), where the first real write would then fail halfway.

>>> check_out_dir("runs/candidate", option="--out")      # doctest: +SKIP
>>> check_out_file("out/gate.html", option="--report")   # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile

from recorder import storage
from recorder.errors import UsageError

__all__ = ["check_out_dir", "check_out_file"]


def check_out_dir(path: str, *, option: str = "--out") -> None:
    """Refuse a folder that is a file, lies under a file, or cannot be created or written.
    Creates nothing: the probe is an unnamed temporary file in the nearest existing folder."""
    if storage.is_url(path):
        return  # an fsspec store: its own first write says what is wrong
    full = os.path.abspath(path)
    if os.path.exists(full) and not os.path.isdir(full):
        raise UsageError(f"{option} {path} is a file, not a folder; give a folder (it is "
                         "created if missing) so nothing is overwritten.")
    _probe(_nearest_existing(full), path, option)


def check_out_file(path: str, *, option: str) -> None:
    """Refuse an output file whose folder cannot be created or written, or that is a folder."""
    if storage.is_url(path):
        return
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise UsageError(f"{option} {path} is a folder, not a file; give a file path, e.g. "
                         f"{os.path.join(path, 'out')}.")
    _probe(_nearest_existing(os.path.dirname(full)), path, option)


def _nearest_existing(full: str) -> str:
    while not os.path.lexists(full):
        parent = os.path.dirname(full)
        if parent == full:
            break
        full = parent
    return full


def _probe(folder: str, path: str, option: str) -> None:
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path} cannot be written: {folder} is a file, not a "
                         "folder; give a path under a folder instead.")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path} cannot be written ({exc.strerror or exc} in "
                         f"{folder}); give a path in a folder you can write to.") from exc

"""Links into the viewer: the one URL contract other outputs (the static gate report) use.

`GET /trajectory?run=<candidate run folder>&baseline=<baseline run folder>&session=<recorded
session id>` opens that session side by side: production, baseline, candidate. Paths are
absolute so a link works whatever folder the viewer was started from.

>>> trajectory_url(DEFAULT_URL, "/runs/next", "/runs/today", "s1")
'http://127.0.0.1:8765/trajectory?run=%2Fruns%2Fnext&baseline=%2Fruns%2Ftoday&session=s1'
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
"""Where `deploysim view` listens unless told otherwise (loopback only)."""


def _absolute(path: str) -> str:
    # fsspec URLs are left as they are; local folders become absolute
    return path if "://" in path else os.path.abspath(path)


def trajectory_url(base: str, run: str, baseline: str, session: str) -> str:
    """The viewer's side-by-side of recorded `session` in candidate `run` against `baseline`."""
    query = urlencode({"run": _absolute(run), "baseline": _absolute(baseline),
                       "session": session})
    return f"{base.rstrip('/')}/trajectory?{query}"


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_URL", "trajectory_url"]

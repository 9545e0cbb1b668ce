"""Links from the static report into the viewer (`deploysim view`, a local web app).

The URL contract, shared with the viewer (deploysim/viewer/links.py builds the same URL; grader
may not import deploysim, so the few lines live here too and a test checks they agree):

    {base}/trajectory?run=<candidate run folder>&baseline=<baseline run folder>&session=<id>

Paths are absolute (fsspec URLs stay as they are) so a link works whatever folder the viewer
was started from; every value is URL-quoted, `/` included.

>>> trajectory_url("/runs/next", "/runs/today", "s1")
'http://127.0.0.1:8765/trajectory?run=%2Fruns%2Fnext&baseline=%2Fruns%2Ftoday&session=s1'
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

DEFAULT_VIEWER = "http://127.0.0.1:8765"
"""Where `deploysim view` listens unless told otherwise (loopback only)."""

VIEWER_HINT = ("Links marked ↗ open the trajectory in the viewer: start it with "
               "`deploysim view <folder>` (it serves {base}).")
"""The report's footer line saying how to start the viewer its links point to."""


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def trajectory_url(candidate_run: str, baseline_run: str, session: str,
                   base: str = DEFAULT_VIEWER) -> str:
    """The viewer's side-by-side of recorded `session`: production, baseline, candidate."""
    query = urlencode({"run": _absolute(candidate_run), "baseline": _absolute(baseline_run),
                       "session": session})
    return f"{base.rstrip('/')}/trajectory?{query}"


__all__ = ["DEFAULT_VIEWER", "VIEWER_HINT", "trajectory_url"]

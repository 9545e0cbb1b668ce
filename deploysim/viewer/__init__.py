"""deploysim.viewer: `deploysim view`, a local web app over corpora, runs, verdicts and gate
decisions (see docs/viewer.md).

    >>> from deploysim.viewer import make_app, trajectory_url, DEFAULT_URL   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from deploysim.viewer.links import DEFAULT_URL, trajectory_url

if TYPE_CHECKING:
    from aiohttp import web


def make_app(paths: Sequence[str]) -> web.Application:
    """The viewer's aiohttp app over `paths` (imported lazily: links stay cheap to import)."""
    from deploysim.viewer.app import make_app as _make_app

    return _make_app(paths)


__all__ = ["DEFAULT_URL", "make_app", "trajectory_url"]

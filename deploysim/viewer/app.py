"""The viewer's aiohttp application over PATHS.

>>> app = make_app(["runs/", "deploysim-audit.db"])      # doctest: +SKIP
>>> web.run_app(app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from deploysim.viewer import json_api, pages
from deploysim.viewer.discovery import discover
from deploysim.viewer.run_cache import Store


def make_app(paths: Sequence[str]) -> web.Application:
    """An app serving what `paths` hold (discovered now; a missing path is a usage error)."""
    app = web.Application()
    app[json_api.LIBRARY] = discover(paths)
    app[json_api.STORE] = Store()
    json_api.add_routes(app)
    pages.add_routes(app)
    return app

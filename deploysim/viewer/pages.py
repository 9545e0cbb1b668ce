"""The viewer's pages and static assets. Every page is the same small HTML shell; the script
(`viewer.js`, vanilla, no build step) reads the URL, fetches `/api/...` and renders the page
with DOM text nodes, so recorded text is never parsed as HTML. The Content-Security-Policy
allows nothing but this origin's own script and style, as a second fence."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from deploysim.viewer.json_api import checked_path

PAGES = ("/", "/source", "/trajectory", "/compare", "/audit", "/report")
_PATH_PARAMS = ("path", "run", "baseline", "corpus")
ASSETS = {"viewer.js": "text/javascript", "viewer.css": "text/css"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deploysim view</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/viewer.css">
<script src="/static/viewer.js" defer></script>
</head>
<body>
<header><a class="brand" href="/">deploysim view</a><nav id="crumbs"></nav></header>
<main id="app"><p class="muted">Loading…</p></main>
</body>
</html>
"""


def _headers(content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type, "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}


async def page(request: web.Request) -> web.Response:
    # refuse a link to something outside PATHS before the page even loads
    for name in _PATH_PARAMS:
        try:
            checked_path(request, name, required=False)
        except web.HTTPNotFound:
            raise web.HTTPNotFound(text=f"{request.query[name]} is not under the folders this "
                                   "viewer serves.\n") from None
    return web.Response(text=SHELL, headers=_headers("text/html; charset=utf-8"))


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:  # a fixed set: no path from the URL ever reaches the file system
        raise web.HTTPNotFound()
    body = resources.files("deploysim.viewer").joinpath(name).read_bytes()
    return web.Response(body=body, headers=_headers(f"{ASSETS[name]}; charset=utf-8"))


def add_routes(app: web.Application) -> None:
    for path in PAGES:
        app.router.add_get(path, page)
    app.router.add_get("/static/{name}", asset)

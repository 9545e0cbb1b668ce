"""The gateway's route table: which upstream each path prefix goes to, and in what mode.

An unnamed upstream is served at `/`; a named one under `/NAME/`. The path after the prefix is
appended to the upstream URL's own path, byte for byte (query included):

    --upstream https://api.openai.com            /v1/chat/completions → https://api.openai.com/v1/chat/completions
    --upstream github=https://tools.example/mcp  /github              → https://tools.example/mcp
                                                 /github/x?y=1        → https://tools.example/mcp/x?y=1
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from proxy.errors import BadUpstream

if TYPE_CHECKING:
    from proxy.gateway import RouteHandler

RESERVED_PREFIX = "_deploysim"
"""Path segment of the gateway's own endpoints (`/_deploysim/health`, `/_deploysim/metrics`)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Mode(StrEnum):
    """What a route does with a request."""

    RECORD = "record"
    """Forward to the upstream and record the exchange."""
    REPLAY = "replay"
    """Answer from recorded stubs; never contact the upstream."""
    HYBRID = "hybrid"
    """Answer from stubs when they match, otherwise forward (and record)."""
    PASSTHROUGH = "passthrough"
    """Forward to the upstream without recording."""


@dataclass
class Route:
    """One entry of the route table.

    `handler` answers the route's requests; None means the gateway's own forwarder, which
    serves `record` and `passthrough`. Replay and hybrid routes bring their own handler
    (see `proxy.gateway.RouteHandler`).
    """

    name: str | None
    """Route name (`/NAME/`), or None for the unnamed upstream at `/`."""
    upstream_url: str | None
    """Base URL requests are forwarded to (None for a route that never forwards)."""
    mode: Mode = Mode.RECORD
    handler: RouteHandler | None = None
    _base: str = field(default="", init=False, repr=False)
    _path: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.name is not None and (not _NAME.match(self.name) or
                                      self.name == RESERVED_PREFIX):
            raise BadUpstream(
                f"The route name {self.name!r} is not usable; use letters, digits, '.', '_' or "
                f"'-' (starting with a letter or digit), and not {RESERVED_PREFIX!r}."
            )
        if self.upstream_url is not None:
            parts = urlsplit(self.upstream_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise BadUpstream(
                    f"The upstream URL {self.upstream_url!r} of route {self.label} is not an "
                    "http(s) URL; give it as https://host[:port][/path]."
                )
            if parts.query or parts.fragment:
                raise BadUpstream(
                    f"The upstream URL {self.upstream_url!r} has a query or fragment; give only "
                    "scheme, host, port and path."
                )
            self._path = parts.path.rstrip("/")
            self._base = f"{parts.scheme}://{parts.netloc}{self._path}"

    @property
    def label(self) -> str:
        """How the route is named in metrics and messages: `/` or `NAME`."""
        return self.name if self.name is not None else "/"

    @property
    def prefix(self) -> str:
        """The gateway path the route is served under: `/` or `/NAME/`."""
        return "/" if self.name is None else f"/{self.name}/"

    @property
    def upstream_path(self) -> str:
        """The path of the upstream base URL without its trailing `/` (`""` when none)."""
        return self._path

    def target(self, rest: str) -> str:
        """The upstream URL for `rest`, the raw path (and query) after the route prefix."""
        return self._base + rest


def parse_upstream(spec: str, mode: Mode = Mode.RECORD) -> Route:
    """A route from `[NAME=]URL`, as given to `--upstream`."""
    name: str | None = None
    url = spec
    head, sep, tail = spec.partition("=")
    if sep and "://" not in head:
        name, url = head, tail
    if not url:
        raise BadUpstream(f"The upstream {spec!r} has no URL; write it as [NAME=]https://host.")
    return Route(name=name, upstream_url=url, mode=mode)


def check_routes(routes: list[Route]) -> None:
    """Refuse a route table with two routes at the same prefix."""
    seen: set[str] = set()
    for route in routes:
        if route.prefix in seen:
            what = "unnamed upstreams" if route.name is None else f"upstreams named {route.name!r}"
            raise BadUpstream(f"There are two {what}; give each --upstream its own NAME=.")
        seen.add(route.prefix)


def split_path(
    raw_path: str, named: dict[str, Route], root: Route | None
) -> tuple[Route, str] | None:
    """The route serving `raw_path` and the rest of the path after its prefix, or None."""
    end = len(raw_path)
    for sep in "/?":
        i = raw_path.find(sep, 1)
        if 0 < i < end:
            end = i
    route = named.get(raw_path[1:end])
    if route is not None:
        return route, raw_path[end:]
    if root is not None:
        return root, raw_path
    return None

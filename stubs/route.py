"""Route siblings: an HTTP path never recorded, answered from a recorded path of its route.

HTTP tools are tables per method and literal path (`GET /orders/A1001`), so a request for
`/orders/A1002` finds no table when only A1001 was recorded, though the service answers both
the same way. A path's **route** is its server, its method and its path template
(`stubs.family.path_template`: `GET /orders/{}`, the id-like segments left out); a recorded
path of the same route is a **sibling**, and the `nearest` layer answers from it:

- siblings sharing more of the request's variable segments come first (`/users/7/orders/A2`
  prefers `/users/7/orders/A1` to `/users/8/orders/A1`); among those, the sibling recorded with
  the closest query and body (`stubs.nearest`), ties in content order;
- the recorded answer is given with its ids put right: wherever it echoed its own path's id —
  a field equal to it (`{"id": "A1001"}`; a number only under an id-like key such as `id` or
  `order_id`), a URL or path holding it as a segment (`/orders/A1001/items`), the id as a word
  in text when it is not a bare number — the requested id stands instead, in the body, the
  text the model sees and the headers (`Location`).

Another method, another path shape (`/orders/A1002/items`) or a fixed segment that differs
(`/customers/A1002`) is another route, never a sibling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stubs.content_order import key_rank
from stubs.document import get_document, put_document
from stubs.family import path_template
from stubs.index import StubIndex, ToolTable
from stubs.reply import Reply

_ID_KEY = re.compile(r"^(?:id|ID|uuid|guid|key|slug|number|ref)$"
                     r"|(?:_id|Id|ID|_key|_uuid|_number|_ref)$")
"""Keys whose value names the resource: a bare number is only swapped under one of these."""


def route_of(name: str) -> tuple[str, list[str]] | None:
    """An HTTP tool name's route template and variable segments: `GET /orders/A1001` →
    (`GET /orders/{}`, ["A1001"]); None when the name is not `METHOD /path` or its path has no
    variable segment (then it has no siblings)."""
    method, _, path = name.partition(" ")
    if not path.startswith("/"):
        return None
    template, values = path_template(path)
    return (f"{method.upper()} {template}", values) if values else None


@dataclass(frozen=True)
class Sibling:
    """A recorded path of the request's route."""

    table: ToolTable
    ids: dict[str, str]
    """Recorded segment value → the requested one, where they differ."""


class RouteSiblings:
    """The HTTP tables of an index grouped by (server, route), built on first use and again
    when tools were added."""

    def __init__(self, index: StubIndex) -> None:
        self.index = index
        self._routes: dict[tuple[str | None, str], list[tuple[ToolTable, list[str]]]] = {}
        self._seen = -1

    def _by_route(self) -> dict[tuple[str | None, str], list[tuple[ToolTable, list[str]]]]:
        if self._seen != len(self.index.tables):
            routes: dict[tuple[str | None, str], list[tuple[ToolTable, list[str]]]] = {}
            for table in self.index.tables:
                found = route_of(table.tool.name) if table.tool.kind == "http" else None
                if found is not None:
                    routes.setdefault((table.tool.server, found[0]), []).append(
                        (table, found[1]))
            for tables in routes.values():  # content order, not recorded order
                tables.sort(key=lambda tv: key_rank(tv[0].tool.name))
            self._routes, self._seen = routes, len(self.index.tables)
        return self._routes

    def siblings(self, server: str | None, name: str) -> list[Sibling]:
        """The recorded paths of the route of `name` that share most of its variable segments,
        in content order; [] when the route has none."""
        found = route_of(name)
        if found is None:
            return []
        template, wanted = found
        scored: list[tuple[int, Sibling]] = []
        for table, values in self._by_route().get((server, template), ()):
            if table.tool.name == name:
                continue
            shared = sum(a == b for a, b in zip(values, wanted, strict=True))
            ids = {a: b for a, b in zip(values, wanted, strict=True) if a != b}
            scored.append((shared, Sibling(table, ids)))
        if not scored:
            return []
        best = max(s for s, _ in scored)
        return [sib for s, sib in scored if s == best]


def put_ids(reply: Reply, ids: Mapping[str, str]) -> Reply:
    """The reply with the recorded ids it echoes replaced by the requested ones (see the module
    docstring); the reply itself when it echoes none."""
    if not ids:
        return reply
    doc = get_document(reply)
    value = _swap(doc.value, ids, None)
    headers = tuple((k, v if k.lower() == "content-length" else _swap_text(v, ids))
                    for k, v in reply.headers)
    out = reply.with_(headers=headers) if headers != reply.headers else reply
    # put_document rewrites every representation (text, body, Content-Length) consistently
    return put_document(out, value, doc) if value != doc.value else out


def _swap(value: Any, ids: Mapping[str, str], key: str | None) -> Any:
    if isinstance(value, str):
        if value in ids and (not value.isdigit() or (key is not None and _ID_KEY.search(key))):
            return ids[value]
        return _swap_text(value, ids)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and key is not None and _ID_KEY.search(key):
        new = ids.get(str(value))
        return int(new) if new is not None and new.isdigit() else value
    if isinstance(value, dict):
        return {k: _swap(v, ids, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, ids, key) for v in value]
    return value


def _swap_text(text: str, ids: Mapping[str, str]) -> str:
    for old, new in ids.items():
        if old not in text:
            continue
        # as a path segment always; as a word only when it is not a bare number ("42 items")
        pattern = (rf"(?<=/){re.escape(old)}(?=$|[/?#\s\"'])" if old.isdigit()
                   else rf"(?<![\w-]){re.escape(old)}(?![\w-])")
        text = re.sub(pattern, new.replace("\\", "\\\\"), text)  # the id as it is, no groups
    return text

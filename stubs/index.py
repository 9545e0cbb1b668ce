"""The stub index: every recorded call keyed by tool and canonical arguments, O(1) to look up.

    tool (kind, server, name) ─► ToolTable ─► key ─► row (one recording)
                                                  └► Entry (several, in recorded order, and
                                                            the same split by session)

A lookup of arguments sent in canonical form (most are) is one orjson dump and two dict
probes (`key_of`); other arguments add one canonicalising walk. Rows are packed (`stubs.reply`)
and unpacked only when they answer. `lookup_call` (a call as sent) and `lookup` (a key) prefer
the replayed session's own recordings (provenance `session`) over the corpus-wide ones
(`exact`, `prefer_session`).
"""

from __future__ import annotations

import difflib
import hashlib
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from recorder.recorded_tool_call import RecordedToolCall, ToolKind
from stubs.canonical import Canonicalizer, parse_arguments, raw_key
from stubs.errors import UnknownTool
from stubs.matchers import KeyFn, key_function
from stubs.reply import Row, pack_call, unpack_row
from stubs.stub_config import ResolvedToolConfig, StubConfig


def tool_label(kind: str, server: str | None, name: str) -> str:
    """How a tool is named in reports and filters: `search`, `mcp:github/search`,
    `http:weather/GET /forecast` (the server part is left out when there is none)."""
    if kind == "function":
        return name
    return f"{kind}:{server}/{name}" if server else f"{kind}:{name}"


@dataclass(frozen=True)
class ToolId:
    kind: ToolKind
    server: str | None
    name: str

    @property
    def label(self) -> str:
        return tool_label(self.kind, self.server, self.name)


class Entry:
    """A key recorded more than once: rows in recorded order and the same rows by session."""

    __slots__ = ("by_session", "rows")

    def __init__(self, rows: list[int], by_session: dict[str | None, list[int]]) -> None:
        self.rows = rows
        self.by_session = by_session


class ToolTable:
    """One tool's recordings."""

    def __init__(self, number: int, tool: ToolId, config: ResolvedToolConfig,
                 canon: Canonicalizer) -> None:
        self.number = number
        self.tool = tool
        self.label = tool.label
        self.config = config
        self.canon = canon
        keyfn: KeyFn = key_function(config.match_on)
        # `key(arguments)`: the lookup key of a call's arguments. The default matcher keys by
        # the whole canonical form as sorted JSON bytes (`Canonicalizer.key`), which arguments
        # sent in canonical form reproduce with one orjson call (`raw`): no walk on a hit.
        default = config.match_on == ("arguments",)
        self.key: Callable[[Any], Hashable] = canon.key if default else partial(keyfn, canon)
        self.raw = default and canon.raw_keys
        self.table: dict[Hashable, int | Entry] = {}
        self.keys: list[Hashable] = []
        """Distinct keys in first-recorded order (the fallbacks read them in content order,
        `stubs.content_order`)."""
        self.rows: list[int] = []
        """Every row of the tool in recorded order."""

    def key_of(self, arguments: Any) -> Hashable:
        """`key(arguments)`, skipping the canonicalising walk when the arguments as sent are a
        recorded key (`stubs.canonical.raw_key`): canonicalising is idempotent, so arguments
        equal to a recorded canonical form are that form."""
        if self.raw:
            raw = raw_key(arguments)
            if raw is not None and raw in self.table:
                return raw
        return self.key(arguments)

    def rows_of(self, key: Hashable) -> list[int]:
        """Every row recorded for a key, in recorded order."""
        e = self.table.get(key)
        if e is None:
            return []
        return [e] if isinstance(e, int) else e.rows


def first_row(entry: int | Entry) -> int:
    """The first row recorded for a key: an int naming the key across the whole index."""
    return entry if isinstance(entry, int) else entry.rows[0]


Found = tuple[Sequence[int], str, int | Entry]
"""A recorded call's answer rows, their provenance (`session` or `exact`) and the key's entry
(a row number when it was recorded once, else an `Entry`; `first_row` names the key)."""


class StubIndex:
    """Recorded tool calls, keyed for O(1) lookup.

    >>> index = StubIndex.build(calls)                       # doctest: +SKIP
    >>> table = index.resolve("function", None, "get_weather")
    >>> rows, provenance = index.lookup(table, table.key({"city": "Paris"}), "s1")
    """

    def __init__(self, config: StubConfig | None = None) -> None:
        self.config = config or StubConfig()
        self.blobs: list[bytes] = []
        self.row_session: list[str | None] = []
        """Each row's session: one shared string per session (compared on every lookup; a
        list of pointers, 8 bytes a row, where an id array took 4 and a session-id table)."""
        self.row_index = array("q")
        self._session_strings: dict[str, str] = {}
        self.tables: list[ToolTable] = []
        self._by_id: dict[tuple[str, str | None, str], ToolTable] = {}
        self._by_name: dict[str, list[ToolTable]] = {}
        self._canons: dict[Any, Canonicalizer] = {}
        self._alias: dict[tuple[str, str | None, str], ToolTable | None] = {}
        self._hash: str | None = None

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(cls, calls: Iterable[RecordedToolCall],
              config: StubConfig | None = None) -> StubIndex:
        index = cls(config)
        for call in calls:
            index.add(call)
        return index

    def add(self, call: RecordedToolCall) -> None:
        """Index one recorded call (after the ones already added)."""
        table = self.table_for(call.kind, call.server, call.name)
        self._insert(table, pack_call(call, table.number), call.session_id, call.index,
                     call.arguments)

    def add_blob(self, blob: bytes) -> None:
        """Index one packed row (loading a prebuilt index); its tool must exist already."""
        row = unpack_row(blob)
        self._insert(self.tables[row.tool], blob, row.session, row.call_index, row.arguments)

    def table_for(self, kind: ToolKind, server: str | None, name: str) -> ToolTable:
        """The table of a tool, created on first use.

        A function tool is one table per name whatever server its calls were attached to: a
        call's server comes from the tool exchange attached to it, and a failed call the agent
        reported in its own words (`Error: HTTP 503: ...`) attaches to none. Keyed by server,
        the tool would split in two, and a candidate's calls (sent with no server) would be
        answered from the error half only."""
        if kind == "function":
            server = None
        ident = (kind, server, name)
        table = self._by_id.get(ident)
        if table is None:
            tool = ToolId(kind, server, name)
            resolved = self.config.for_tool(tool.label, name)
            canon = self._canons.get(resolved.rules)
            if canon is None:
                canon = self._canons[resolved.rules] = Canonicalizer(resolved.rules)
            table = ToolTable(len(self.tables), tool, resolved, canon)
            self.tables.append(table)
            self._by_id[ident] = table
            self._by_name.setdefault(name, []).append(table)
            self._alias.clear()
        return table

    def _insert(self, table: ToolTable, blob: bytes, session: str | None, index: int,
                arguments: Any) -> None:
        row = len(self.blobs)
        self.blobs.append(blob)
        if session is not None:
            session = self._session_strings.setdefault(session, session)
        self.row_session.append(session)
        self.row_index.append(index)
        args, _ = parse_arguments(arguments)
        key = table.key(args)
        found = table.table.get(key)
        if found is None:
            table.table[key] = row
            table.keys.append(key)
        elif isinstance(found, int):
            first = found
            by_session: dict[str | None, list[int]] = {self.row_session[first]: [first]}
            by_session.setdefault(session, []).append(row)
            table.table[key] = Entry([first, row], by_session)
        else:
            found.rows.append(row)
            found.by_session.setdefault(session, []).append(row)
        table.rows.append(row)
        self._hash = None

    # -- looking up -----------------------------------------------------------------------

    def find(self, kind: str, server: str | None, name: str) -> ToolTable | None:
        """The table answering a tool, or None. A tool recorded under another server or
        transport answers when it is the only one of that name (an agent may call an MCP tool
        as a function tool)."""
        table = self._by_id.get((kind, server, name))
        if table is not None:
            return table
        ident = (kind, server, name)
        if ident in self._alias:
            return self._alias[ident]
        found = self._by_name.get(name, [])
        same_kind = [t for t in found if t.tool.kind == kind]
        pick = same_kind[0] if len(same_kind) == 1 else found[0] if len(found) == 1 else None
        self._alias[ident] = pick
        return pick

    def resolve(self, kind: str, server: str | None, name: str) -> ToolTable:
        """Like `find`, but an unknown tool raises `UnknownTool` naming the closest ones."""
        table = self.find(kind, server, name)
        if table is None:
            raise UnknownTool(self.unknown_tool_message(kind, server, name))
        return table

    def find_label(self, label: str) -> ToolTable:
        """A tool by its label or bare name (CLI arguments)."""
        for t in self.tables:
            if label in (t.label, t.tool.name):
                return t
        raise UnknownTool(self.unknown_tool_message(None, None, label))

    def unknown_tool_message(self, kind: str | None, server: str | None, name: str) -> str:
        what = tool_label(kind, server, name) if kind else name
        labels = [t.label for t in self.tables]
        close = difflib.get_close_matches(name, labels + [t.tool.name for t in self.tables], 3)
        hint = (f"the closest recorded are {', '.join(close)}" if close else
                f"the corpus records {len(labels)} tool(s)"
                + (f": {', '.join(labels[:8])}" if labels else ""))
        return (f"No tool {what} was recorded in this corpus; {hint} (see `deploysim stubs "
                "show CORPUS`).")

    def lookup(self, table: ToolTable, key: Hashable,
               session: str | None) -> tuple[Sequence[int], str] | None:
        """The rows answering a key and whether they are the session's own (`session`) or the
        corpus-wide ones (`exact`); None when the key was never recorded."""
        e = table.table.get(key)
        if e is None:
            return None
        return self.prefer_session(e, session)

    def prefer_session(self, e: int | Entry,
                       session: str | None) -> tuple[Sequence[int], str]:
        """An entry's rows for a replayed session: its own recordings (`session`) when it has
        any, else every recording (`exact`)."""
        if isinstance(e, int):
            own = session is not None and self.row_session[e] == session
            return (e,), ("session" if own else "exact")
        if session is not None and e.by_session.get(session):
            return e.by_session[session], "session"
        return e.rows, "exact"

    def lookup_call(self, kind: str, server: str | None, name: str, arguments: Any,
                    session: str | None
                    ) -> tuple[ToolTable | None, Hashable, Found | None]:
        """A call as sent, looked up: (the tool's table or None, the key, and the rows
        answering it — the session's own (`session`) when it recorded the call, else every
        recording (`exact`) — with their provenance and the key's entry (`Found`), or None
        when the call was never recorded)."""
        table = self.find(kind, server, name)
        if table is None:
            return None, None, None
        key = table.key_of(arguments)
        entry = table.table.get(key)
        if entry is None:
            return table, key, None
        rows, provenance = self.prefer_session(entry, session)
        return table, key, (rows, provenance, entry)

    def row(self, number: int) -> Row:
        """A row, unpacked."""
        return unpack_row(self.blobs[number])

    def iter_rows(self, rows: Iterable[int]) -> Iterator[Row]:
        return (unpack_row(self.blobs[r]) for r in rows)

    # -- identity -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.blobs)

    def content_hash(self) -> str:
        """sha256 over the configuration, the tools and every row: what the stubs answer from."""
        if self._hash is None:
            h = hashlib.sha256(self.config.hash().encode())
            for t in self.tables:
                h.update(repr((t.tool.kind, t.tool.server, t.tool.name)).encode())
            for blob in self.blobs:
                h.update(len(blob).to_bytes(4, "big"))
                h.update(blob)
            self._hash = h.hexdigest()
        return self._hash

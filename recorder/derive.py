"""Derive sessions from raw exchanges: parse every exchange, thread the LLM calls into
conversations, attach tool traffic to the sessions that issued it.

    >>> result = derive(corpus.exchanges())           # doctest: +SKIP
    >>> result.sessions, result.problems
    >>> for session in SessionStream(corpus.exchanges): ...   # the same, bounded memory

Rules, in order of precedence (details in docs/recording.md):
1. An explicit session header (`X-Deploysim-Session` by default; the proxy stores it as the
   exchange's `session_hint`) groups calls into one session whatever their content.
2. Responses API calls chain by `previous_response_id`.
3. Otherwise prefix chaining: a request continues the call whose request + answer is its
   longest prefix; forks become separate sessions; retries never add turns
   (`recorder.derive_tree`).
4. MCP and HTTP tool exchanges attach to the session that issued them
   (`recorder.derive_tools`); unattached ones become `tool_only` sessions.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from recorder.collector import paused
from recorder.derive_build import Housekeeping, build_session, session_ids, tool_only_sessions
from recorder.derive_tools import Attacher, ToolUse, tool_uses
from recorder.derive_tree import CallNode, Forest, SessionPath, session_paths
from recorder.errors import CassetteError
from recorder.exchange import Exchange
from recorder.message_key import key_hash
from recorder.protocols import parse_exchange
from recorder.protocols.bodies import header_value
from recorder.session import Session, SessionSource

DEFAULT_SESSION_HEADER = "X-Deploysim-Session"
DEFAULT_SEGMENT_HEADER = "X-Deploysim-Segment"


@dataclass(frozen=True)
class DeriveOptions:
    """Which headers name sessions and segments when an exchange has no hint/label yet."""

    session_header: str = DEFAULT_SESSION_HEADER
    segment_header: str = DEFAULT_SEGMENT_HEADER


@dataclass
class Derivation:
    """What deriving a set of exchanges produced."""

    sessions: list[Session] = field(default_factory=list)
    """LLM sessions (in order of their first call), then tool-only sessions."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Exchange id → parse/threading problems found now (not already on the exchange)."""
    protocols: Counter[str] = field(default_factory=Counter)
    """Exchanges per detected protocol."""
    tool_uses: list[ToolUse] = field(default_factory=list)
    """Every MCP/HTTP tool call seen, in time order."""
    attached: dict[str, str] = field(default_factory=dict)
    """Tool exchange id → id of the LLM session it was attached to."""


def derive(exchanges: Iterable[Exchange], options: DeriveOptions | None = None, *,
           progress: Progress | None = None) -> Derivation:
    """Parse, thread and attach; never raises on bad traffic (problems are collected).

    Reads `exchanges` once and keeps every parsed call until threading is done; for a corpus
    on disk, `SessionStream` needs far less memory."""
    result = Derivation()
    with paused():  # the whole corpus is alive: see recorder.collector for the figure
        result.sessions.extend(_derive(exchanges, None, options or DeriveOptions(), result,
                                       progress))
    return result


class SessionStream:
    """The sessions of a corpus that can be read twice, derived with bounded memory and
    produced one at a time (the same sessions, in the same order, as `derive`).

        >>> stream = SessionStream(corpus.exchanges)     # doctest: +SKIP
        >>> for session in stream: writer.write(session)
        >>> stream.result.problems

    The first pass parses every exchange but keeps of each model call only its outputs and
    one hash per request message (`recorder.derive_tree.CallNode.keys`); threading needs no
    more. The second pass (`source()` again, which must give the same exchanges in the same
    order) parses the model calls again and keeps only each call's new messages, the ones
    sessions are made of. `on_reread` sees every exchange of the second pass, once
    `result.problems` is complete (re-deriving copies the exchanges there). `progress` is
    called as the work advances (see `Progress`). `result` fills as the stream runs; its
    `sessions` stays empty."""

    def __init__(self, source: Callable[[], Iterable[Exchange]],
                 options: DeriveOptions | None = None, *, progress: Progress | None = None,
                 on_reread: Callable[[Exchange], None] | None = None) -> None:
        self.source = source
        self.options = options or DeriveOptions()
        self.progress = progress
        self.on_reread = on_reread
        self.result = Derivation()

    @property
    def exchanges(self) -> int:
        """Exchanges read by the first pass (so far)."""
        return sum(self.result.protocols.values())

    def __iter__(self) -> Iterator[Session]:
        yield from _derive(self.source(), _Reread(self.source, self.on_reread),
                           self.options, self.result, self.progress)


Progress = Callable[[str, int], None]
"""`progress(stage, done)`, called every `PROGRESS_EVERY` items of a stage: "parse" (exchanges
parsed), "thread" (calls threaded), "reread" (exchanges read again, `SessionStream` only),
"sessions" (sessions built)."""

PROGRESS_EVERY = 500


def _tick(progress: Progress | None, stage: str, done: int) -> None:
    if progress is not None and done % PROGRESS_EVERY == 0:
        progress(stage, done)


@dataclass(frozen=True)
class _Reread:
    source: Callable[[], Iterable[Exchange]]
    on_exchange: Callable[[Exchange], None] | None


def _derive(exchanges: Iterable[Exchange], reread: _Reread | None, opts: DeriveOptions,
            result: Derivation, progress: Progress | None) -> Iterator[Session]:
    """The sessions, built one at a time; `reread` makes the first pass keep hashes instead
    of messages and read the model calls' messages in a second pass."""
    nodes, uses, housekeeping = _first_pass(exchanges, reread is not None, opts, result,
                                            progress)
    nodes.sort(key=lambda n: (n.started_at, n.seq))
    forest = _forest(nodes, result.problems, progress)
    if reread is not None:
        _read_messages(reread, nodes, sum(result.protocols.values()), progress)
    del nodes
    paths = session_paths(forest)
    attacher = Attacher(paths)
    per_path: dict[int, list[ToolUse]] = {}
    by_mcp_session: dict[str, SessionPath] = {}
    unattached: list[ToolUse] = []
    uses.sort(key=lambda u: (u.started_at, u.exchange_id, u.position))
    result.tool_uses = uses
    for use in uses:
        joined = attacher.attach(use)
        if not joined:
            unattached.append(use)
            continue
        for path in joined:
            per_path.setdefault(id(path), []).append(use)
        if use.mcp_session:
            by_mcp_session.setdefault(use.mcp_session, joined[0])
    extra: dict[int, list[Housekeeping]] = {}
    for h in housekeeping:
        target = (attacher.by_group.get(h.hint) if h.hint else None) or (
            by_mcp_session.get(h.mcp_session) if h.mcp_session else None)
        if target is not None:
            extra.setdefault(id(target), []).append(h)
    del attacher, housekeeping
    ids = session_ids(paths)
    routes = {u.exchange_id: u.server for u in uses}
    built = 0
    for path in paths:
        session = build_session(path, ids[id(path)], per_path.get(id(path), []),
                           extra.get(id(path), []), routes)
        for use in per_path.get(id(path), []):
            result.attached.setdefault(use.exchange_id, session.id)
        built += 1
        _tick(progress, "sessions", built)
        yield session
    for session in tool_only_sessions(unattached):
        built += 1
        _tick(progress, "sessions", built)
        yield session


def _first_pass(exchanges: Iterable[Exchange], light: bool, opts: DeriveOptions,
                result: Derivation, progress: Progress | None,
                ) -> tuple[list[CallNode], list[ToolUse], list[Housekeeping]]:
    """Parse every exchange: model calls (only hashes of their request messages when
    `light`), tool uses, MCP housekeeping; protocols and problems go to `result`."""
    nodes: list[CallNode] = []
    uses: list[ToolUse] = []
    housekeeping: list[Housekeeping] = []
    for seq, ex in enumerate(exchanges):
        parsed = parse_exchange(ex)
        result.protocols[parsed.protocol] += 1
        problems = list(parsed.problems)
        hint = ex.session_hint or header_value(ex.request.headers, opts.session_header)
        labels = dict(ex.labels)
        if "segment" not in labels:
            segment = header_value(ex.request.headers, opts.segment_header)
            if segment:
                labels["segment"] = segment
        if parsed.llm is not None:
            call = parsed.llm
            if call.model:
                labels["model"] = call.model
            call.native = None  # the provider's whole response: no session uses it
            node = CallNode(ex.id, ex.started_at, ex.ended_at, hint, call, labels, seq=seq)
            if light:  # the second pass brings the messages back
                node.keys = array("q", [key_hash(m) for m in call.messages])
                call.messages, call.tools, call.params = [], [], {}
            nodes.append(node)
        else:
            found = tool_uses(ex, parsed, hint)
            uses.extend(found)
            if not found and parsed.mcp is not None:
                housekeeping.append(Housekeeping(ex.id, ex.started_at, ex.ended_at, hint,
                                                  parsed.mcp.session_id))
        if problems:
            result.problems[ex.id] = problems
        _tick(progress, "parse", seq + 1)
    return nodes, uses, housekeeping


def _read_messages(reread: _Reread, nodes: list[CallNode], expected: int,
                   progress: Progress | None) -> None:
    """The second pass: each threaded call gets back the messages it adds (`suffix`), its
    tools and its parameters."""
    by_seq = {n.seq: n for n in nodes}
    seen = 0
    for seq, ex in enumerate(reread.source()):
        seen = seq + 1
        node = by_seq.get(seq)
        if node is not None:
            call = parse_exchange(ex).llm if ex.id == node.exchange_id else None
            if call is None:
                raise CassetteError(f"exchange {seq + 1} of the corpus is {ex.id}, not the "
                                    f"model call {node.exchange_id} read before: the corpus "
                                    "changed while sessions were derived; derive again once "
                                    "nothing writes to it.")
            node.suffix = call.messages[node.suffix_start:]
            node.call.messages, node.call.tools, node.call.params = (
                node.suffix, call.tools, call.params)
        if reread.on_exchange is not None:
            reread.on_exchange(ex)
        _tick(progress, "reread", seen)
    if seen != expected:
        raise CassetteError(f"the corpus held {expected} exchanges when sessions were threaded "
                            f"and {seen} when they were built: it changed while sessions were "
                            "derived; derive again once nothing writes to it.")


def _forest(nodes: list[CallNode], problems: dict[str, list[str]],
            progress: Progress | None = None) -> Forest:
    """Calls (in time order) linked into a forest; threading problems by call."""
    forest = Forest()
    for done, node in enumerate(nodes, 1):
        found: list[str] = []
        forest.add(node, found)
        if found:
            problems.setdefault(node.exchange_id, []).extend(found)
        _tick(progress, "thread", done)
    return forest


def thread(nodes: list[CallNode], problems: dict[str, list[str]]) -> list[SessionPath]:
    """Thread calls (in time order) into linear conversations; threading problems by call."""
    return session_paths(_forest(nodes, problems))


def sessions_from_calls(nodes: list[CallNode], source: SessionSource,
                        problems: dict[str, list[str]] | None = None) -> list[Session]:
    """Sessions from model calls that did not come from exchanges (importers): threaded the
    same way, with `source` as their provenance (`exchange_ids` left empty)."""
    paths = thread(sorted(nodes, key=lambda n: (n.started_at, n.exchange_id)),
                   problems if problems is not None else {})
    ids = session_ids(paths)
    return [build_session(p, ids[id(p)], [], [], {}, source) for p in paths]


def with_problems(ex: Exchange, problems: list[str]) -> Exchange:
    """The exchange with new parse/threading problems attached (raw bytes untouched)."""
    new = [p for p in problems if p not in ex.problems]
    return ex.model_copy(update={"problems": [*ex.problems, *new]}) if new else ex


def derive_sessions(exchanges: Iterable[Exchange],
                    options: DeriveOptions | None = None) -> list[Session]:
    """Just the sessions of `derive` (LLM sessions, then tool-only ones)."""
    return derive(exchanges, options).sessions

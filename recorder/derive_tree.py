"""Session threading for LLM calls: a forest of calls linked by conversation prefixes.

Each call's full conversation is its request messages (for a Responses API call continuing a
`previous_response_id`, the chain's conversation first). A call's *parent* is the call whose
request + answer is the longest prefix of it: found by walking the call's prefix hashes from the
longest down and looking each up in a dict, so threading is linear in the number of messages.

Siblings with the same request are retries: the ones nobody continued fold into the one that
was continued (or the last that succeeded), so a retry never adds a turn. Siblings with
different requests, or retries that were each continued, are forks: each branch becomes its
own session carrying the shared prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.message_key import SEED, chain, key_hash, prefix_hashes_of_keys
from recorder.protocols.light import LMessage
from recorder.protocols.parsed import LlmCall


@dataclass(eq=False)
class CallNode:
    """One LLM call in the forest."""

    exchange_id: str
    started_at: float
    ended_at: float
    group: str | None
    """The explicit session id (hint), or None when threading by content."""
    call: LlmCall
    labels: dict[str, str]
    suffix: list[LMessage] = field(default_factory=list)
    """The messages of the request beyond what the parent's conversation covers."""
    full_len: int = 0
    """Length of the full conversation of the request (the chain's included)."""
    request_hash: int = 0
    """Prefix hash of the full request conversation."""
    parent: CallNode | None = None
    parent_choice: int = 0
    link_len: int = 0
    """How many messages of the full request the parent's conversation (request + answer)
    covers."""
    children: list[CallNode] = field(default_factory=list)
    keys: Sequence[int] | None = None
    """A streamed derivation's stand-in for the request messages until they are threaded: their
    `key_hash`es (`call.messages` is then empty until the exchange is read again)."""
    suffix_start: int = 0
    """Where `suffix` starts in the request's own messages."""
    seq: int = -1
    """Position of the exchange in the stream it came from (-1: not from one)."""

    def output(self, choice: int) -> LMessage | None:
        """The answer of a choice (choice 0 when there are fewer), or None if it failed."""
        outs = self.call.outputs
        if not outs:
            return None
        return outs[choice] if choice < len(outs) else outs[0]


@dataclass(eq=False)
class SessionPath:
    """A linear conversation through the forest: becomes one session."""

    group: str | None
    root: CallNode
    fork_of: CallNode | None
    """The first call of this branch when it forked off another session (None for the main)."""
    messages: list[LMessage] = field(default_factory=list)
    """Messages in their light form; forks share the objects of their common prefix."""
    introduced_at: list[float] = field(default_factory=list)
    """For each message: start time of the call whose request (or answer) first carried it."""
    calls: list[CallNode] = field(default_factory=list)
    """Calls on the path and the retries folded into them, in time order at the end."""
    last: CallNode | None = None

    def copy_for_fork(self, first: CallNode) -> SessionPath:
        return SessionPath(self.group, self.root, first, list(self.messages),
                           list(self.introduced_at), list(self.calls), self.last)


class Forest:
    """Adds calls in time order and links each to its parent."""

    def __init__(self) -> None:
        self.nodes: list[CallNode] = []
        self._conversations: dict[tuple[str | None, int], tuple[CallNode, int, int]] = {}
        self._responses: dict[str, CallNode] = {}

    def add(self, node: CallNode, problems: list[str]) -> None:
        """Link `node` to its parent and register its conversation. Only the new messages are
        kept (in `suffix`; the call's `messages` is cut down to them too), so memory stays
        linear in the corpus, not in the sum of conversation lengths. A node with `keys` has
        no messages yet: its `suffix_start` says which to keep when they are read again."""
        call = node.call
        msgs = call.messages
        keys = node.keys if node.keys is not None else [key_hash(m) for m in msgs]
        start, base = SEED, 0
        chained: CallNode | None = None
        if call.previous_response_id:
            chained = self._responses.get(call.previous_response_id)
            if chained is None:
                problems.append(f"previous_response_id {call.previous_response_id} is not in the "
                                "corpus; the conversation is threaded from this request on")
            else:
                out = chained.output(0)
                start = chain(chained.request_hash, out) if out else chained.request_hash
                base = chained.full_len + (1 if out else 0)
        hashes = prefix_hashes_of_keys(keys, start)
        node.full_len = base + len(keys)
        node.request_hash = hashes[-1]
        if chained is not None:
            node.parent, node.parent_choice, node.link_len = chained, 0, base
            chained.children.append(node)
        else:
            for k in range(len(keys), 0, -1):
                hit = self._conversations.get((node.group, hashes[k]))
                # the same request as a failed call is its retry (a sibling), not its
                # continuation
                if hit is not None and (hit[0].call.outputs or k < len(keys)):
                    node.parent, node.parent_choice, node.link_len = hit
                    hit[0].children.append(node)
                    break
        node.suffix_start = node.link_len - base
        node.suffix = msgs[node.suffix_start:]
        call.messages = node.suffix
        node.keys = None
        self.nodes.append(node)
        outs = call.outputs
        if outs:
            for choice, out in enumerate(outs):
                key = (node.group, chain(node.request_hash, out))
                self._conversations.setdefault(key, (node, choice, node.full_len + 1))
            if call.response_id:
                self._responses[call.response_id] = node
        else:  # a failed call: whoever continues its request continues it
            self._conversations.setdefault((node.group, node.request_hash),
                                           (node, 0, node.full_len))

    def roots(self) -> list[CallNode]:
        return [n for n in self.nodes if n.parent is None]


def _branches(children: list[CallNode]) -> list[tuple[CallNode, list[CallNode]]]:
    """Children as branches: (the call that continues, retries folded into it)."""
    groups: dict[tuple[str | None, int, int], list[CallNode]] = {}
    for c in children:
        # the same request in two explicit sessions (header groups) is two sessions that
        # opened alike, not a retry: only calls of one group fold into each other
        groups.setdefault((c.group, c.request_hash, c.link_len), []).append(c)
    out: list[tuple[CallNode, list[CallNode]]] = []
    for members in groups.values():
        continued = [c for c in members if c.children]
        idle = [c for c in members if not c.children]
        if continued:
            out.append((continued[0], idle))
            out.extend((c, []) for c in continued[1:])
        else:
            answered = [c for c in idle if c.call.outputs]
            best = answered[-1] if answered else idle[-1]
            out.append((best, [c for c in idle if c is not best]))
    out.sort(key=lambda b: (b[0].started_at, b[0].exchange_id))
    return out


def session_paths(forest: Forest) -> list[SessionPath]:
    """Every linear conversation of the forest (main branches and forks), roots in time order."""
    paths: list[SessionPath] = []
    for root, folded in _branches(forest.roots()):
        start = SessionPath(root.group, root, None)
        stack: list[tuple[CallNode, list[CallNode], SessionPath]] = [(root, folded, start)]
        while stack:
            node, retries, path = stack.pop()
            path.messages.extend(node.suffix)
            path.introduced_at.extend([node.started_at] * len(node.suffix))
            path.calls.append(node)
            path.calls.extend(retries)
            path.last = node
            branches = _branches(node.children)
            if not branches:
                out = node.output(0)
                if out is not None:
                    path.messages.append(out)
                    path.introduced_at.append(node.started_at)
                path.calls.sort(key=lambda n: (n.started_at, n.exchange_id))
                paths.append(path)
                continue
            # forks first copy the path as it is now; the first branch continues it in place
            targets = [path] + [path.copy_for_fork(c) for c, _ in branches[1:]]
            pending: list[tuple[CallNode, list[CallNode], SessionPath]] = []
            for (child, child_retries), target in zip(branches, targets, strict=True):
                out = node.output(child.parent_choice)
                if out is not None and child.link_len > node.full_len:
                    target.messages.append(out)
                    target.introduced_at.append(node.started_at)
                pending.append((child, child_retries, target))
            stack.extend(reversed(pending))
    return paths


def labels_of(calls: list[CallNode]) -> dict[str, Any]:
    """Labels of a session: first value of each exchange label in time order."""
    labels: dict[str, Any] = {}
    for n in calls:
        for k, v in n.labels.items():
            labels.setdefault(k, v)
    return labels

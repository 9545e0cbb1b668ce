"""Message identity for threading: two messages are "the same" when a model would see the same
thing — role, visible text, tool calls (name and canonical arguments), tool-call id, and the
tool result text. Thinking parts are left out: clients may drop them when they echo history.

Prefix hashes chain message keys so that "request B extends conversation A" is one dict lookup
per prefix length, never a pairwise comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from recorder.protocols.light import LMessage
from recorder.protocols.parsed import canonical_json
from recorder.session import Message

_SKIP_PARTS = ("thinking", "redacted_thinking")
_TEXT_PARTS = ("text", "refusal")
SEED = hash("deploysim-thread")


def message_key(m: LMessage | Message) -> tuple[object, ...]:
    """A hashable key of what a message says (see the module docstring)."""
    content = m.content
    if len(content) == 1 and content[0].type in _TEXT_PARTS:  # the common case, directly
        text = content[0].text
        others: tuple[str, ...] = ()
    else:
        texts = []
        other: list[str] = []
        for p in content:
            if p.type in _TEXT_PARTS:
                texts.append(p.text)
            elif p.type not in _SKIP_PARTS:
                other.append(canonical_json(p.data))
        text = texts[0] if len(texts) == 1 else "".join(texts)
        others = tuple(other)
    calls = tuple([(c.id, c.name, canonical_json(c.arguments)) for c in m.tool_calls]) \
        if m.tool_calls else ()
    result = m.result.content if m.result is not None else None
    return (m.role, text, others, calls, m.tool_call_id,
            result if result != text else None)


def key_hash(m: LMessage | Message) -> int:
    """`hash(message_key(m))`: all that prefix hashes need of a message, so a streamed
    derivation keeps one integer per request message instead of the message."""
    return hash(message_key(m))


def chain(h: int, m: LMessage | Message) -> int:
    """The prefix hash after appending `m` to a prefix whose hash is `h`."""
    return hash((h, hash(message_key(m))))


def prefix_hashes(messages: Sequence[LMessage | Message], start: int = SEED) -> list[int]:
    """hashes[k] is the hash of messages[:k]; hashes[0] is `start`."""
    return prefix_hashes_of_keys([hash(message_key(m)) for m in messages], start)


def prefix_hashes_of_keys(keys: Iterable[int], start: int = SEED) -> list[int]:
    """`prefix_hashes` from the messages' `key_hash`es."""
    out = [start]
    h = start
    for k in keys:
        h = hash((h, k))
        out.append(h)
    return out

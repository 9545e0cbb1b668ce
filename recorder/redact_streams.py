"""Secrets a model streams piece by piece: found in the reassembled text, removed from every
event that carried a piece.

Byte-level redaction sees the stream as sent, so `ana@exa` in one SSE delta event and
`mple.com` in the next never match. Here the text deltas of each stream address (a chat
choice's content or tool arguments, an Anthropic content block, a Responses output part, a
Gemini candidate's text or thought parts) are joined, searched like any text, and each secret
that spans several deltas is written as its pseudonym into the first delta's text and cut from
the others. Only the events that change are re-serialised; everything else keeps its bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from recorder.redact_spans import Span

Address = tuple[Any, ...]
Path = tuple[Any, ...]


@dataclass
class _Fragment:
    line: int
    """Index of the event payload in `payloads`."""
    path: Path
    """Where the text sits in the event's JSON."""
    text: bytes


def payloads(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of every single-line `data:` payload of an event stream."""
    out = []
    pos = 0
    n = len(data)
    while pos < n:
        end = data.find(b"\n", pos)
        if end < 0:
            end = n
        line_end = end - 1 if end > pos and data[end - 1:end] == b"\r" else end
        if data.startswith(b"data:", pos):
            start = pos + 5
            if data[start:start + 1] == b" ":
                start += 1
            out.append((start, line_end))
        pos = end + 1
    return out


def _deltas(event: Any) -> list[tuple[Address, Path, str]]:
    """(stream address, path, text) of every text delta an event carries."""
    if not isinstance(event, dict):
        return []
    found: list[tuple[Address, Path, str]] = []
    kind = event.get("type")
    if isinstance(event.get("choices"), list):  # OpenAI chat chunk
        for i, choice in enumerate(event["choices"]):
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            idx = choice.get("index", i)
            for field in ("content", "refusal", "reasoning_content"):
                if isinstance(delta.get(field), str):
                    found.append((("chat", idx, field), ("choices", i, "delta", field),
                                  delta[field]))
            for j, tc in enumerate(delta.get("tool_calls") or []):
                fn = tc.get("function") if isinstance(tc, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    found.append((("chat", idx, "tool", tc.get("index", j)),
                                  ("choices", i, "delta", "tool_calls", j, "function",
                                   "arguments"), fn["arguments"]))
    elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):  # Anthropic
        for field in ("text", "thinking", "partial_json"):
            if isinstance(event["delta"].get(field), str):
                found.append((("anthropic", event.get("index"), field), ("delta", field),
                              event["delta"][field]))
    elif isinstance(kind, str) and kind.endswith(".delta") and isinstance(
            event.get("delta"), str):  # Responses API
        found.append((("responses", kind, event.get("output_index"), event.get("content_index"),
                       event.get("summary_index")), ("delta",), event["delta"]))
    elif isinstance(event.get("candidates"), list):  # Gemini: text parts of whole chunks
        for i, cand in enumerate(event["candidates"]):
            content = cand.get("content") if isinstance(cand, dict) else None
            parts = content.get("parts") if isinstance(content, dict) else None
            for j, part in enumerate(parts if isinstance(parts, list) else []):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    found.append((("gemini", cand.get("index", i), bool(part.get("thought"))),
                                  ("candidates", i, "content", "parts", j, "text"),
                                  part["text"]))
    return found


def _load(raw: bytes) -> Any:
    """An event's JSON: orjson (a stream has an event per token, so this is the hot loop of
    redacting a stream), the standard parser for what orjson refuses but JSON allows
    (integers past 64 bits, NaN)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _set(obj: Any, path: Path, value: str) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def split_secret_spans(data: bytes, find: Callable[[bytes], list[Span]],
                       redact: Callable[[bytes], bytes]) -> list[Span]:
    """Spans that rewrite the events carrying pieces of a secret split across deltas.

    `find` returns secret spans of a text (with pseudonyms); `redact` redacts a whole payload
    (applied to rewritten events so nothing else in them survives either)."""
    ranges = payloads(data)
    events: dict[int, Any] = {}
    streams: dict[Address, list[_Fragment]] = {}
    for i, (start, end) in enumerate(ranges):
        raw = data[start:end]
        if not raw.startswith(b"{"):
            continue
        try:
            event = _load(raw)
        except ValueError:
            continue
        for address, path, text in _deltas(event):
            events[i] = event
            streams.setdefault(address, []).append(
                _Fragment(i, path, text.encode("utf-8", "surrogatepass")))
    edits: dict[tuple[int, Path], bytes] = {}
    for fragments in streams.values():
        if len(fragments) < 2:
            continue
        joined = b"".join(f.text for f in fragments)
        bounds = []
        pos = 0
        for f in fragments:
            bounds.append((pos, pos + len(f.text)))
            pos += len(f.text)
        texts = [f.text for f in fragments]
        for s, e, token in sorted(find(joined), reverse=True):
            first = next(k for k, (a, b) in enumerate(bounds) if a <= s < b)
            last = next(k for k, (a, b) in enumerate(bounds) if a < e <= b)
            if first == last:
                continue  # inside one delta: the byte-level pass sees it
            a0 = bounds[first][0]
            texts[last] = texts[last][e - bounds[last][0]:]
            for k in range(first + 1, last):
                texts[k] = b""
            texts[first] = texts[first][: s - a0] + token
        for f, new in zip(fragments, texts, strict=True):
            if new != f.text:
                edits[(f.line, f.path)] = new
    spans: list[Span] = []
    for (line, path), new in edits.items():
        _set(events[line], path, new.decode("utf-8", "replace"))
    for line in sorted({line for line, _ in edits}):
        start, end = ranges[line]
        payload = json.dumps(events[line], ensure_ascii=False, separators=(",", ":")).encode()
        spans.append((start, end, redact(payload)))
    return spans

"""Recorded LLM responses, found again for a new request: the way to test an agent's tool
handling against the model's recorded answers, deterministically and for free.

A request is looked up, in order, by
1. its exact body (canonical JSON) on the same route and API;
2. its conversation (messages and offered tools, as the recorder parses them — so key order,
   whitespace and SDK-added fields do not matter);
3. its position in the bound session: the k-th model call of an agent that names recorded
   session S (`X-Deploysim-Session: S`) gets S's k-th recorded response.
Several recordings under one key are served in turn. The recorded bytes go back as they were
(stream chunks in order, encodings kept); a streamed recording answers a non-streamed request
with the response the stream adds up to.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from recorder.exchange import Exchange, Header, HttpRequest
from recorder.message_key import message_key
from recorder.protocols import parse_exchange
from recorder.protocols.parsed import LlmCall


@dataclass(frozen=True)
class RecordedResponse:
    """One recorded LLM response, ready to send again."""

    exchange_id: str
    api: str
    status: int
    headers: list[Header]
    body: bytes
    chunks: list[bytes] | None
    """Stream chunks in arrival order (None when the response was not streamed)."""
    native: dict[str, Any] | None
    """The provider's response object (a stream reassembled), for non-streamed requests."""

    @property
    def streamed(self) -> bool:
        return self.chunks is not None


@dataclass(frozen=True)
class Found:
    """The outcome of a lookup."""

    response: RecordedResponse | None
    how: str
    """body | conversation | session | miss."""
    reason: str = ""


def request_view(method: str, path: str, headers: list[Header], body: bytes) -> LlmCall | None:
    """A request as the recorder parses LLM requests (None when it is not an LLM call)."""
    ex = Exchange(id="incoming", started_at=0.0, ended_at=0.0,
                  request=HttpRequest(method=method, url="http://incoming" + path,
                                      headers=headers, body=body))
    return parse_exchange(ex).llm


def _h(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _body_key(route: str | None, call: LlmCall, body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    # the model is in the body for most APIs, in the URL for Gemini: keyed apart either way
    return _h("body", route, call.api, call.model,
              json.dumps(doc, sort_keys=True, separators=(",", ":")))


def _conversation_key(route: str | None, call: LlmCall) -> str:
    return _h("conversation", route, call.api, call.model,
              tuple(message_key(m) for m in call.messages),
              tuple(sorted(t.name for t in call.tools)))


class LlmIndex:
    """Recorded LLM exchanges by body, conversation and session position."""

    def __init__(self) -> None:
        self._by: dict[str, list[RecordedResponse]] = {}
        self._served: Counter[tuple[str, str]] = Counter()
        self.size = 0

    @classmethod
    def build(cls, exchanges: list[Exchange]) -> LlmIndex:
        index = cls()
        for ex in sorted(exchanges, key=lambda e: (e.started_at, e.id)):
            index.add(ex)
        return index

    def add(self, ex: Exchange) -> None:
        """Index one recorded exchange (ignored unless it is an answered LLM call)."""
        resp = ex.response
        call = parse_exchange(ex).llm
        if resp is None or call is None or resp.status >= 400:
            return
        recorded = RecordedResponse(
            exchange_id=ex.id, api=call.api, status=resp.status, headers=list(resp.headers),
            body=resp.body, chunks=[c.data for c in resp.chunks] if resp.chunks else None,
            native=call.native)
        keys = [_conversation_key(ex.route, call)]
        body_key = _body_key(ex.route, call, ex.request.body)
        if body_key is not None:
            keys.append(body_key)
        if ex.session_hint:
            keys.append(_h("session", ex.route, ex.session_hint))
        for key in keys:
            self._by.setdefault(key, []).append(recorded)
        self.size += 1

    def lookup(self, route: str | None, call: LlmCall, body: bytes, *, stream: bool,
               trajectory: str, session: str | None, position: int) -> Found:
        """The recorded response for a request (see the module docstring)."""
        body_key = _body_key(route, call, body)
        for how, key in (("body", body_key), ("conversation", _conversation_key(route, call))):
            if key is None or key not in self._by:
                continue
            found = self._pick(key, trajectory, stream)
            if found is not None:
                return Found(found, how)
        if session is not None:
            rows = self._by.get(_h("session", route, session), [])
            if position < len(rows) and _fits(rows[position], stream):
                return Found(rows[position], "session")
        return Found(None, "miss", self._why(route, call, session, position))

    def _pick(self, key: str, trajectory: str, stream: bool) -> RecordedResponse | None:
        fitting = [r for r in self._by[key] if _fits(r, stream)]
        rows = [r for r in fitting if r.streamed == stream] or fitting
        if not rows:
            return None
        slot = (trajectory, key)
        n = self._served[slot]
        self._served[slot] = n + 1
        return rows[n % len(rows)]

    def _why(self, route: str | None, call: LlmCall, session: str | None,
             position: int) -> str:
        where = f"route {route if route is not None else '/'}"
        if not self.size:
            return f"the corpus holds no LLM responses for {where}; pass --candidate to " \
                   "forward LLM calls to a live model"
        text = (f"no recorded {call.api} request on {where} has this body or conversation "
                f"({len(call.messages)} message(s))")
        if session is not None:
            text += f", and recorded session {session!r} has no model call #{position + 1}"
        return text + "; pass --candidate to forward LLM calls to a live model"


def _fits(r: RecordedResponse, stream: bool) -> bool:
    """A streamed recording answers streamed requests, and plain ones with the response it
    adds up to; a plain recording answers only plain requests."""
    if stream:
        return r.streamed
    return not r.streamed or r.native is not None

"""Wire codecs: each provider API's JSON <-> provider-neutral `recorder.session` messages.

Every codec module exposes `API`, `PATH`, `encode_request`, `decode_request` and
`decode_response`, so a corpus recorded on one provider can be replayed on another. Encoding
lives here; decoding does not: `decode_response` and `decode_request` hand the body to the
one parser of the format in `recorder.protocols` (the one recording uses), so a recording and
a replay of the same bytes are the same messages.
"""

from __future__ import annotations

from types import ModuleType

from replayer.wire import anthropic, gemini, openai_chat, openai_responses

CODECS: dict[str, ModuleType] = {
    m.API: m for m in (openai_chat, openai_responses, anthropic, gemini)}
"""API name -> codec module."""

APIS = tuple(CODECS)
"""The API names `--api` accepts."""

__all__ = ["APIS", "CODECS"]

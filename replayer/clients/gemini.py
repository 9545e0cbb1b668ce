"""Gemini client (`POST {base_url}/v1beta/models/{model}:generateContent`, base_url without a
version, e.g. https://generativelanguage.googleapis.com; one ending in a version such as
`/v1` uses that version). The key goes in `x-goog-api-key`, as the `google-genai` SDK sends it.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, ClassVar

from replayer.clients.http_client import HttpModelClient
from replayer.errors import ContextLengthExceeded, ModelHTTPError
from replayer.wire import gemini

_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")
_CONTEXT_HINTS = ("exceeds the maximum number of tokens", "input token count")
_AUTH_HINTS = ("api_key_invalid", "api key not valid", "api key expired")


class GeminiClient(HttpModelClient):
    api = gemini.API
    codec: ClassVar[ModuleType] = gemini

    @property
    def url(self) -> str:
        if _VERSION.fullmatch(self.base_url.rsplit("/", 1)[-1]):
            return f"{self.base_url}/models/{self.model.removeprefix('models/')}:generateContent"
        return self.base_url + gemini.path(self.model)

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key} if self.api_key else {}

    def _http_error(self, status: int, raw: bytes, headers: Any) -> ModelHTTPError:
        # Gemini words these its own way: a prompt over the window is a 400 INVALID_ARGUMENT
        # "The input token count (N) exceeds the maximum number of tokens allowed (M)", and a
        # bad key a 400 with reason API_KEY_INVALID, not a 401
        err = super()._http_error(status, raw, headers)
        text = raw[:2000].decode(errors="replace").lower()
        if status == 400 and any(h in text for h in _CONTEXT_HINTS):
            return ContextLengthExceeded(str(err), status=status)
        if status == 400 and any(h in text for h in _AUTH_HINTS):
            err.reason = "auth"
        return err

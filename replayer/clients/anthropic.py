"""Anthropic Messages client (`POST {base_url}/v1/messages`, base_url without /v1)."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from replayer.clients.http_client import HttpModelClient
from replayer.wire import anthropic

ANTHROPIC_VERSION = "2023-06-01"
"""The API version header sent (a long-stable version every deployment accepts)."""


class AnthropicClient(HttpModelClient):
    api = anthropic.API
    codec: ClassVar[ModuleType] = anthropic

    def __init__(self, *args: Any, anthropic_version: str = ANTHROPIC_VERSION,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anthropic_version = anthropic_version

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": self.anthropic_version}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

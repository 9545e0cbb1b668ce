"""OpenAI Chat Completions client (`POST {base_url}/chat/completions`, base_url ending in /v1)."""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

from replayer.clients.base import HttpModelClient
from replayer.wire import openai_chat


class OpenAIChatClient(HttpModelClient):
    api = openai_chat.API
    codec: ClassVar[ModuleType] = openai_chat

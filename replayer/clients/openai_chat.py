"""OpenAI Chat Completions client (`POST {base_url}/chat/completions`, base_url ending in /v1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

from recorder.session import Message, ToolDef
from replayer.clients.http_client import HttpModelClient
from replayer.wire import openai_chat


class OpenAIChatClient(HttpModelClient):
    api = openai_chat.API
    codec: ClassVar[ModuleType] = openai_chat

    def encode_body(self, messages: Sequence[Message], tools: Sequence[ToolDef],
                    params: Mapping[str, Any] | None) -> bytes:
        return openai_chat.encode_body(self.model, messages, tools, params, memos=self.memos)

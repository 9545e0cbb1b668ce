"""OpenAI Responses client (`POST {base_url}/responses`, base_url ending in /v1; store=false)."""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

from replayer.clients.http_client import HttpModelClient
from replayer.wire import openai_responses


class OpenAIResponsesClient(HttpModelClient):
    api = openai_responses.API
    codec: ClassVar[ModuleType] = openai_responses

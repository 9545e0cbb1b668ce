"""Model clients for the replayer (and for the stubs' tool simulator and the grader's judge,
which receive them through `runtime.model_client.ModelClient`).

>>> client = make_client("openai-chat", "gpt-5", "https://api.openai.com/v1")  # doctest: +SKIP
>>> reply = await client.complete(messages, tools=tools)                         # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from replayer.clients.accounting import Accounting, Price, PriceTable
from replayer.clients.anthropic import AnthropicClient
from replayer.clients.gemini import GeminiClient
from replayer.clients.http_client import HttpModelClient
from replayer.clients.limits import RateLimiter, RetryPolicy
from replayer.clients.openai_chat import OpenAIChatClient
from replayer.clients.openai_responses import OpenAIResponsesClient
from replayer.errors import ReplayConfigError

CLIENTS: dict[str, type[HttpModelClient]] = {
    c.api: c for c in (OpenAIChatClient, OpenAIResponsesClient, AnthropicClient, GeminiClient)}
"""API name -> client class; the names `--api` accepts."""

DEFAULT_KEY_ENV = {"openai-chat": "OPENAI_API_KEY", "openai-responses": "OPENAI_API_KEY",
                   "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def resolve_api_key(api: str, base_url: str, api_key_env: str | None = None) -> str | None:
    """The key from `api_key_env` (must be set), else the provider's usual variable.

    A loopback endpoint (a local or fake server) may go without a key; a remote one may not.
    """
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise ReplayConfigError(f"The environment variable {api_key_env} named by "
                                    "--api-key-env is not set; export it with the API key.")
        return key
    env = DEFAULT_KEY_ENV[api]
    key = os.environ.get(env)
    if key:
        return key
    if (urlparse(base_url).hostname or "") in _LOOPBACK:
        return None
    raise ReplayConfigError(f"No API key for {base_url}: set {env}, or name another variable "
                            "with --api-key-env.")


def make_client(api: str, model: str, base_url: str, *, api_key: str | None = None,
                api_key_env: str | None = None, **opts: Any) -> HttpModelClient:
    """A client for `api` (openai-chat | openai-responses | anthropic | gemini).

    `opts` go to the client: timeout, retry (RetryPolicy), limiter (RateLimiter), prices
    (PriceTable), accounting (Accounting), headers, max_connections.
    """
    if api not in CLIENTS:
        raise ReplayConfigError(f"Unknown --api {api!r}; use one of {', '.join(CLIENTS)}.")
    if not urlparse(base_url).scheme.startswith("http"):
        raise ReplayConfigError(f"The base URL {base_url!r} is not an http(s) URL; give e.g. "
                                "https://api.openai.com/v1 or http://127.0.0.1:8000/v1.")
    if api_key is None:
        api_key = resolve_api_key(api, base_url, api_key_env)
    return CLIENTS[api](model, base_url, api_key=api_key, **opts)


__all__ = ["CLIENTS", "Accounting", "AnthropicClient", "GeminiClient", "HttpModelClient",
           "OpenAIChatClient",
           "OpenAIResponsesClient", "Price", "PriceTable", "RateLimiter", "RetryPolicy",
           "make_client", "resolve_api_key"]

"""The HTTP model client every provider client builds on: one aiohttp session, retries with
backoff and jitter on 429/5xx/timeouts/resets honouring Retry-After, client-side rate limits,
an adaptive limit on calls in flight to its endpoint (`replayer.clients.adaptive`), and
token/cost accounting. Subclasses name their wire codec and their auth headers.

It implements `runtime.model_client.ModelClient`: `complete()` returns the assistant `Message` (with
`usage`) or raises a `replayer.errors.ModelCallError` saying why, after the retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

import aiohttp

from recorder.session import Message, ToolDef
from replayer.clients.accounting import Accounting, PriceTable
from replayer.clients.adaptive import THROTTLE_STATUSES, AdaptiveLimit, Outcome, endpoint_limit
from replayer.clients.limits import RateLimiter, RetryPolicy, parse_retry_after
from replayer.errors import (
    ContextLengthExceeded,
    MalformedResponse,
    ModelCallError,
    ModelHTTPError,
    ModelUnreachable,
)
from replayer.memo import Memos
from replayer.wire.codec_helpers import compact, conversation_tokens, loads

DEFAULT_CEILING = 16
"""Calls in flight to one endpoint at most, unless the caller says (`--concurrency`)."""

_CONTEXT_HINTS = ("context_length_exceeded", "context length", "context window",
                  "prompt is too long", "maximum context", "too many tokens")


def http_error(url: str, status: int, raw: bytes, headers: Any = None) -> ModelHTTPError:
    """The error an HTTP error status from `url` stands for (reason, retryable, Retry-After);
    also used for the per-request errors a batch reports (`replayer.batch`)."""
    message = raw[:300].decode(errors="replace")
    code = ""
    try:
        err = json.loads(raw).get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = str(err.get("code") or err.get("type") or "")
    except (ValueError, AttributeError):
        pass
    text = f"HTTP {status} from {url}: {message}"
    lowered = f"{code} {message}".lower()
    if status in (400, 413) and any(h in lowered for h in _CONTEXT_HINTS):
        return ContextLengthExceeded(text, status=status)
    return ModelHTTPError(text, status=status,
                          retry_after=parse_retry_after(headers) if headers is not None else None)


class HttpModelClient:
    """Base of the provider clients (see `replayer.clients.make_client`)."""

    api: ClassVar[str]
    codec: ClassVar[ModuleType]

    def __init__(self, model: str, base_url: str, *, api_key: str | None = None,
                 timeout: float = 120.0, retry: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, prices: PriceTable | None = None,
                 accounting: Accounting | None = None, headers: Mapping[str, str] | None = None,
                 max_connections: int = 256, concurrency: int | None = DEFAULT_CEILING
                 ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.prices = prices
        self.accounting = accounting if accounting is not None else Accounting()
        self.extra_headers = dict(headers or {})
        self.max_connections = max_connections
        self.concurrency = concurrency
        """Ceiling of the endpoint's adaptive limit on calls in flight (None: no limit)."""
        self._session: aiohttp.ClientSession | None = None
        self.memos = Memos()
        """Each message's wire form, for the requests this client sends."""

    @property
    def url(self) -> str:
        return self.base_url + self.codec.PATH

    def auth_headers(self) -> dict[str, str]:
        """Provider auth and version headers (overridden per provider)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this client (never the key)."""
        return {"name": self.model, "api": self.api, "base_url": self.base_url}

    def encode_body(self, messages: Sequence[Message], tools: Sequence[ToolDef],
                    params: Mapping[str, Any] | None) -> bytes:
        """The request body as sent: the codec's request as compact JSON. A client whose
        codec writes the bytes itself overrides this."""
        return compact(self.codec.encode_request(self.model, messages, tools, params,
                                                 memos=self.memos)).encode()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Content-Type": "application/json", "User-Agent": "deploysim-replay",
                         **self.auth_headers(), **self.extra_headers})
        return self._session

    async def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolDef] = (),
                       params: Mapping[str, Any] | None = None) -> Message:
        """The model's next assistant message for this conversation."""
        payload = self.encode_body(messages, tools, params)
        # the estimate only feeds the tokens/min limit; skip its cost when there is none
        estimate = conversation_tokens(messages, tools) if self.limiter is not None else 0
        data = await self.post_payload(payload, estimate=estimate)
        try:
            message: Message = self.codec.decode_response(data)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            self.accounting.failures += 1
            raise MalformedResponse(f"{self.url} answered 200 with a body that is not a "
                                    f"{self.api} response ({type(exc).__name__}: {exc})") from exc
        self.accounting.add(self.model, message.usage, self.prices)
        if self.limiter is not None:
            self.limiter.settle(estimate, sum(message.usage.values()))
        return message

    async def post_json(self, body: Mapping[str, Any], *, estimate: int = 0) -> Any:
        """POST a JSON body with retries; the decoded JSON reply."""
        return await self.post_payload(compact(body).encode(), estimate=estimate)

    async def post_payload(self, payload: bytes, *, estimate: int = 0) -> Any:
        """POST an encoded JSON body with retries; the decoded JSON reply."""
        key = ""  # the request's hash seeds the retry jitter: computed when a retry needs it
        attempts = max(1, self.retry.max_attempts)
        adaptive = self._adaptive()
        for attempt in range(attempts):
            if self.limiter is not None:
                await self.limiter.acquire(estimate)
            started = await adaptive.acquire() if adaptive is not None else 0.0
            outcome: Outcome = "error"
            retry_after: float | None = None
            try:
                data = await self._post_once(payload)
                outcome = "ok"
                return data
            except ModelCallError as exc:
                retry_after = exc.retry_after if isinstance(exc, ModelHTTPError) else None
                outcome = _outcome(exc)
                if not exc.retryable or attempt == attempts - 1:
                    self.accounting.failures += 1
                    raise
            finally:
                if adaptive is not None:
                    adaptive.release(started, outcome, retry_after)
            self.accounting.retries += 1
            key = key or hashlib.sha256(payload).hexdigest()
            await asyncio.sleep(self.retry.delay(attempt, key, retry_after))
        raise AssertionError("unreachable")

    def _adaptive(self) -> AdaptiveLimit | None:
        """The endpoint's limit on the running loop (shared with every client of it)."""
        if self.concurrency is None:
            return None
        return endpoint_limit(self.base_url, ceiling=self.concurrency, timeout=self.timeout)

    async def _post_once(self, payload: bytes) -> Any:
        try:
            async with self._http().post(self.url, data=payload) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise self._http_error(resp.status, raw, resp.headers)
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            raise ModelUnreachable(f"could not reach {self.url}: {what}") from exc
        try:
            return loads(raw)
        except ValueError as exc:
            raise MalformedResponse(f"{self.url} answered 200 with malformed JSON ({exc})") \
                from exc

    def _http_error(self, status: int, raw: bytes, headers: Any) -> ModelHTTPError:
        return http_error(self.url, status, raw, headers)

    async def close(self) -> None:
        """Close the connections (a later call opens new ones)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _outcome(exc: ModelCallError) -> Outcome:
    """What a failed call says about the endpoint's load."""
    if isinstance(exc, ModelHTTPError) and exc.status in THROTTLE_STATUSES:
        return "throttled"
    if isinstance(exc, ModelUnreachable) and isinstance(exc.__cause__, TimeoutError):
        return "timeout"
    return "error"

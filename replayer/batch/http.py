"""The HTTP side of the batch APIs: one aiohttp session, the model clients' retry policy.

Transient failures (429, 5xx, timeouts, resets) are retried with the same backoff as model
calls; anything else — or a transient failure that outlasts the retries — stops the batch
replay with one sentence (`BatchApiError`): its batches stay in the ledger, so rerunning the
same command resumes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import aiohttp

from replayer.clients.http_client import http_error
from replayer.clients.limits import RetryPolicy
from replayer.errors import BatchApiError, ModelCallError, ModelHTTPError, ModelUnreachable

FormFactory = Callable[[], aiohttp.FormData]
"""Builds a multipart body (afresh for each attempt: aiohttp sends a form only once)."""


class BatchHttp:
    """`call(method, url, ...)` -> the response body, retried; errors as `BatchApiError`."""

    def __init__(self, headers: Mapping[str, str], *, retry: RetryPolicy | None = None,
                 timeout: float = 600.0) -> None:
        self.headers = {"User-Agent": "deploysim-replay-batch", **headers}
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), headers=self.headers)
        return self._session

    async def call(self, method: str, url: str, *, body: bytes | None = None,
                   form: FormFactory | None = None, what: str) -> bytes:
        """`what` names the step in an error ("uploading the batch input", ...)."""
        attempts = max(1, self.retry.max_attempts)
        for attempt in range(attempts):
            try:
                return await self._once(method, url, body, form)
            except ModelCallError as exc:
                if not exc.retryable or attempt == attempts - 1:
                    raise BatchApiError(
                        f"The batch API failed {what} ({exc}); check --base-url and the key "
                        "(or replay without --batch), then rerun the same command to resume."
                    ) from exc
                retry_after = exc.retry_after if isinstance(exc, ModelHTTPError) else None
                await asyncio.sleep(self.retry.delay(attempt, f"{method} {url}", retry_after))
        raise AssertionError("unreachable")

    async def _once(self, method: str, url: str, body: bytes | None,
                    form: FormFactory | None) -> bytes:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = form() if form is not None else body
        try:
            async with self._http().request(method, url, data=data, headers=headers) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise http_error(url, resp.status, raw, resp.headers)
                return raw
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            raise ModelUnreachable(f"could not reach {url}: {what}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

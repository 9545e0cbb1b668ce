"""What a batch API offers a batch replay, and which `--api` has which.

A provider's batch API is a small class (`openai.OpenAIBatches`, `anthropic.AnthropicBatches`)
with five methods: `line` (one request as the batch input holds it), `submit`, `poll`,
`results` and `close`. Both providers take at most so many requests and bytes per batch, so a
round larger than that is submitted as several batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from replayer.errors import ModelCallError

BATCH_APIS = ("openai-chat", "openai-responses", "anthropic")
"""The `--api` values `--batch` supports."""


@dataclass
class Polled:
    """A batch's state as a poll found it."""

    ended: bool
    """The provider will process none of its requests any more."""
    status: str
    refs: dict[str, str] = field(default_factory=dict)
    """Where its results are, once ended (output/error file ids, results URL)."""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """One request's result: the API's response body, or why it failed."""

    custom_id: str
    body: Any = None
    error: ModelCallError | None = None


class BatchApi(Protocol):
    """A provider's batch API as the batch replay drives it."""

    max_requests: int
    """Requests one batch may hold."""
    max_bytes: int
    """Bytes the batch input may hold."""

    def line(self, custom_id: str, body: Mapping[str, Any]) -> bytes:
        """One request (the body an online call would POST) as the batch input holds it."""
        ...

    async def submit(self, lines: Sequence[bytes]) -> tuple[str, dict[str, str]]:
        """Create a batch of these requests: its id, and refs to keep (the input file)."""
        ...

    async def poll(self, batch_id: str) -> Polled: ...

    async def results(self, batch_id: str, refs: Mapping[str, str]) -> list[Outcome]:
        """Every result an ended batch has (requests it never ran may be missing)."""
        ...

    async def close(self) -> None: ...


def make_batch_api(api: str, base_url: str, headers: Mapping[str, str], *,
                   max_attempts: int = 6, run_id: str = "") -> BatchApi:
    """The batch API behind `--api` at `base_url` (the URL the online client uses)."""
    from replayer.batch.http import BatchHttp
    from replayer.clients.limits import RetryPolicy

    http = BatchHttp(headers, retry=RetryPolicy(max_attempts=max_attempts))
    if api == "anthropic":
        from replayer.batch.anthropic import AnthropicBatches

        return AnthropicBatches(http, base_url)
    from replayer.batch.openai import OpenAIBatches
    from replayer.wire import CODECS

    return OpenAIBatches(http, base_url, "/v1" + CODECS[api].PATH, run_id=run_id)

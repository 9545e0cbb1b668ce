"""Errors of the replayer.

    DeploysimError
    ├── UsageError
    │   └── ReplayConfigError       a fatal configuration problem: the run stops at once
    │       └── BatchApiError       the batch API itself refused or failed (--batch)
    └── ModelCallError              one model call failed (after retries); the turn is recorded
        │                           as an error with this reason and the run goes on
        ├── ModelUnreachable        connection refused, DNS failure, timeout, reset
        ├── ModelHTTPError          an HTTP error status from the endpoint (401, 429, 5xx, ...)
        │   └── ContextLengthExceeded   the prompt does not fit the model's context window
        └── MalformedResponse       a 200 whose body is not the API's JSON shape
    StepDeferred                    (not an error) a batch replay's step waits for a batch

`ModelCallError` messages are short reasons ("HTTP 401 from ...: Incorrect API key") stored in
the trajectory's `error` field and counted per reason in the run summary.
"""

from __future__ import annotations

from recorder.errors import DeploysimError, UsageError


class ReplayConfigError(UsageError):
    """Bad replay configuration (unknown API, missing key, bad filter): nothing is run."""


class BatchApiError(ReplayConfigError):
    """The batch API (file upload, batch create, retrieve, results) failed for good: the
    batch replay cannot go on (rerun the same command to resume once the cause is fixed)."""


class StepDeferred(Exception):
    """Raised by a batch replay's answer source when a step's answer is not in yet: the
    trajectory is set aside and replayed again once the next batch round has answered."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class ModelCallError(DeploysimError):
    """A model call failed; `reason` is a short category used for counting."""

    reason: str = "error"
    retryable: bool = False

    def __init__(self, message: str, *, reason: str | None = None,
                 retryable: bool | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if retryable is not None:
            self.retryable = retryable


class ModelUnreachable(ModelCallError):
    reason = "unreachable"
    retryable = True


class ModelHTTPError(ModelCallError):
    """An HTTP error status; `status` and `retry_after` (seconds, if the server said) kept."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        retryable = status in (408, 409, 425, 429) or status >= 500
        reason = {401: "auth", 403: "auth", 429: "rate_limited"}.get(
            status, "server_error" if status >= 500 else f"http_{status}")
        super().__init__(message, reason=reason, retryable=retryable)
        self.status = status
        self.retry_after = retry_after


class ContextLengthExceeded(ModelHTTPError):
    reason = "context_length"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message, status=status)
        self.reason = "context_length"
        self.retryable = False


class MalformedResponse(ModelCallError):
    reason = "malformed_response"

"""Errors raised by the stubs package.

    recorder.errors.DeploysimError
    └── StubError                   anything about building or querying stubs
        ├── UnknownTool             a tool name the corpus never recorded
        ├── BadArguments            arguments that are not JSON where JSON is required
        ├── IndexMismatch           a prebuilt index built from a different corpus version
        ├── BadIndexFile            a file that is not a prebuilt stub index (or a newer one)
        └── StubConfigError         a bad stub configuration, profile or option (a UsageError)
            └── ProfileError        a perturbation profile that cannot be used as written

Every message is one sentence naming what, where, and what to do, so the CLI prints it as is.
Nothing here is raised from `StubEngine.answer`: a replay never crashes on a bad tool call; the
call is answered with a tool error instead (provenance `miss`).
"""

from __future__ import annotations

from recorder.errors import DeploysimError, UsageError


class StubError(DeploysimError):
    """Base of every stubs error."""


class UnknownTool(StubError):
    """A tool the corpus never recorded."""


class BadArguments(StubError):
    """Arguments that are not JSON where JSON is required."""


class IndexMismatch(StubError):
    """A prebuilt index that was built from a different corpus (or configuration)."""


class BadIndexFile(StubError):
    """A file that is not a prebuilt stub index this version can read."""


class StubConfigError(StubError, UsageError):
    """A stub configuration or option that cannot be used."""


class ProfileError(StubConfigError):
    """A perturbation profile that cannot be used as written."""

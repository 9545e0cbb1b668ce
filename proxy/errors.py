"""Errors of the proxy package.

    DeploysimError (recorder.errors)
    ├── UsageError
    │   ├── BadUpstream        an --upstream spec that cannot be used
    │   ├── BadListen          a --listen address that cannot be parsed or bound
    │   └── BadOutDir          an --out directory that cannot be created or written
    └── ProxyError             the proxy could not start (mitmproxy failed, port in use, ...)

Every message is one sentence naming what was wrong, where, and what to do.
"""

from __future__ import annotations

from recorder.errors import DeploysimError, UsageError


class ProxyError(DeploysimError):
    """The proxy could not start or run as asked."""


class BadUpstream(UsageError):
    """An upstream spec (`[NAME=]URL`) that cannot be used."""


class BadListen(UsageError):
    """A listen address that cannot be parsed or bound."""


class BadOutDir(UsageError):
    """An output directory that cannot be created or written."""

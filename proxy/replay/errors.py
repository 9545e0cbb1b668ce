"""Errors of the replay proxy.

    DeploysimError (recorder.errors)
    └── UsageError
        └── ServeConfigError    a `deploysim serve` option or corpus that cannot be served

Every message is one sentence naming what was wrong, where, and what to do.
"""

from __future__ import annotations

from recorder.errors import UsageError


class ServeConfigError(UsageError):
    """A serve option (--route, --candidate, --miss, --profile, ...) or corpus that cannot be
    used as given."""

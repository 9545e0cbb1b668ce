"""Errors of the local real-model server.

    UsageError (recorder.errors)
    └── RealModelUnavailable     the runtime or the weights are not installed, or it won't start
        └── WeightsMismatch      the installed GGUF is not the pinned file (sha256)

Tests skip on RealModelUnavailable with its message as the reason; the CLI prints it as one
sentence (exit 2).
"""

from __future__ import annotations

from recorder.errors import UsageError


class RealModelUnavailable(UsageError):
    """The local model cannot be served here; the message says what to install or check."""


class WeightsMismatch(RealModelUnavailable):
    """The installed weights are not the bytes deploysim pinned."""

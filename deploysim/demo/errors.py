"""The demo's error: a step of `deploysim demo` failed."""

from __future__ import annotations

from recorder.errors import DeploysimError


class DemoError(DeploysimError):
    """A demo step failed; the message says which and where its log is."""

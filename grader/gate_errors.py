"""Errors of the estimation, gate, audit, calibration and report code.

    recorder.errors.UsageError              bad arguments or configuration (exit 2)
    └── GateError                           anything the gate family refuses to work on
        ├── PolicyError                     a policy file that cannot be used as written
        ├── PairingError                    baseline and candidate that are not on the same units
        ├── EmptyRunError                   a run with nothing to estimate from
        └── AuditError                      an audit database that is not ours or was tampered with

Every message is one sentence naming what is wrong, where, and what to do.
"""

from __future__ import annotations

from recorder.errors import UsageError


class GateError(UsageError):
    """Base of the gate family's errors (exit 2)."""


class PolicyError(GateError):
    """A gate policy that is malformed or names something the rubric does not have."""


class PairingError(GateError):
    """Baseline and candidate runs that cannot be compared unit by unit."""


class EmptyRunError(GateError):
    """A run (or corpus) with no graded units."""


class AuditError(GateError):
    """An audit database that is not a deploysim audit log, or whose chain is broken."""

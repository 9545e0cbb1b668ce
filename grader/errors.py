"""Errors raised by the grader: grading, and the gate family (estimation, gate, audit,
calibration, report).

    DeploysimError (recorder.errors)
    └── UsageError                  bad arguments or configuration (exit 2)
        ├── GraderError             anything wrong with what the grader was asked to do
        │   ├── RubricError         a rubric that cannot be loaded (syntax, field, regex, detector)
        │   ├── DetectorError       a detector that cannot be built or run as configured
        │   └── ReviewError         a review sample or labels file that cannot be used
        └── GateError               anything the gate family refuses to work on
            ├── PolicyError         a policy file that cannot be used as written
            ├── PairingError        baseline and candidate that are not on the same units
            ├── EmptyRunError       a run with nothing to estimate from
            └── AuditError          an audit database that is not ours or was tampered with

A detector that crashes on one trajectory is *not* an exception here: it becomes an error
verdict (flagged None) and grading continues. Every message is one sentence naming the thing,
where it is, and what to do.
"""

from __future__ import annotations

from recorder.errors import UsageError


class GraderError(UsageError):
    """Something the user asked the grader to do that cannot be done as asked."""


class RubricError(GraderError):
    """A rubric that cannot be loaded: TOML syntax, a missing or bad field, an unknown detector."""


class DetectorError(GraderError):
    """A detector that cannot be built or bound (no judge model, unimportable function)."""


class ReviewError(GraderError):
    """A human-review sample or labels file that cannot be used."""


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

"""Errors raised by the grader.

    DeploysimError (recorder.errors)
    └── UsageError
        └── GraderError             anything wrong with what the grader was asked to do
            ├── RubricError         a rubric that cannot be loaded (syntax, field, regex, detector)
            ├── DetectorError       a detector that cannot be built or run as configured
            └── ReviewError         a review sample or labels file that cannot be used

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

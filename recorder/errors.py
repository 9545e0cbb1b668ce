"""Errors raised by deploysim, rooted here because every package depends on the recorder.

    DeploysimError                  anything a user can fix; the CLI prints it as one sentence
    ├── UsageError                  bad arguments or configuration (exit 2)
    └── CassetteError               a cassette or corpus that cannot be read as asked
        ├── CorpusNotFound          a path, glob or URL that names no cassette
        ├── NotACassette            a file that does not start with the cassette magic
        ├── UnsupportedFormat       a cassette written by a newer format version
        ├── RecordTooLarge          a record over the reader's or writer's size limit
        └── CorruptCassette         torn or corrupted records, when the caller asked for strictness

Every message names the file (or thing) and says what to do, so the CLI can print it as is.
"""

from __future__ import annotations


class DeploysimError(Exception):
    """Base of every error a user can act on; `str(err)` is a complete sentence."""

    exit_code: int = 2


class UsageError(DeploysimError):
    """Bad command-line input or configuration."""


class CassetteError(DeploysimError):
    """A cassette or corpus that cannot be read as asked."""


class CorpusNotFound(CassetteError):
    """A path, glob or URL that names no cassette."""


class NotACassette(CassetteError):
    """A file that is not a deploysim cassette."""


class UnsupportedFormat(CassetteError):
    """A cassette of a format version this deploysim cannot read."""


class RecordTooLarge(CassetteError):
    """A record larger than the configured limit."""


class CorruptCassette(CassetteError):
    """Damaged records found while reading strictly."""

"""recorder: the cassette format, protocol parsers, session threading, redaction, importers.

Depends on nothing else of deploysim's. The public API is listed in `__all__`.
"""

from recorder.annotation import Annotation
from recorder.corpus import Corpus, resolve
from recorder.errors import (
    CassetteError,
    CorpusNotFound,
    CorruptCassette,
    DeploysimError,
    NotACassette,
    RecordTooLarge,
    UnsupportedFormat,
    UsageError,
)
from recorder.exchange import Exchange, HttpRequest, HttpResponse, StreamChunk
from recorder.header import FORMAT_VERSION, CassetteHeader
from recorder.reader import CassetteReader, Problem
from recorder.records import Record
from recorder.session import (
    ContentPart,
    Message,
    Session,
    SessionSource,
    ToolCall,
    ToolDef,
    ToolResult,
)
from recorder.turns import Turn, counted_turns, turns
from recorder.version import __version__
from recorder.writer import CassetteWriter

__all__ = [
    "FORMAT_VERSION",
    "Annotation",
    "CassetteError",
    "CassetteHeader",
    "CassetteReader",
    "CassetteWriter",
    "ContentPart",
    "Corpus",
    "CorpusNotFound",
    "CorruptCassette",
    "DeploysimError",
    "Exchange",
    "HttpRequest",
    "HttpResponse",
    "Message",
    "NotACassette",
    "Problem",
    "Record",
    "RecordTooLarge",
    "Session",
    "SessionSource",
    "StreamChunk",
    "ToolCall",
    "ToolDef",
    "ToolResult",
    "Turn",
    "UnsupportedFormat",
    "UsageError",
    "__version__",
    "counted_turns",
    "resolve",
    "turns",
]

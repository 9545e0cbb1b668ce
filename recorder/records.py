"""The tagged union of every record a cassette holds, and its (de)serialisation."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from recorder.annotation import Annotation
from recorder.exchange import Exchange
from recorder.header import CassetteHeader
from recorder.session import Session

Record = Annotated[CassetteHeader | Exchange | Session | Annotation, Field(discriminator="kind")]
"""Any cassette record, told apart by its `kind` field."""

RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)

KINDS = ("header", "exchange", "session", "annotation")


def record_to_obj(record: Any) -> dict[str, Any]:
    """The plain (msgpack-ready) form of a record: bytes stay bytes, defaults included."""
    obj: dict[str, Any] = record.model_dump(mode="python")
    return obj


def record_from_obj(obj: dict[str, Any]) -> Record:
    """Validate a plain object back into its typed record."""
    return RECORD_ADAPTER.validate_python(obj)

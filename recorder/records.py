"""The tagged union of every record a cassette holds, and its (de)serialisation."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from recorder.annotation import Annotation
from recorder.exchange import Exchange
from recorder.header import CassetteHeader
from recorder.ledger import Ledger
from recorder.session import Session

Record = Annotated[CassetteHeader | Exchange | Session | Annotation | Ledger,
                   Field(discriminator="kind")]
"""Any cassette record, told apart by its `kind` field."""

RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)

KINDS = ("header", "exchange", "session", "annotation", "ledger")


def record_to_obj(record: Any) -> dict[str, Any]:
    """The plain (msgpack-ready) form of a record: bytes stay bytes, defaults included."""
    obj: dict[str, Any] = record.model_dump(mode="python")
    return obj


_MODELS: dict[str, Any] = {"header": CassetteHeader, "exchange": Exchange, "session": Session,
                           "annotation": Annotation, "ledger": Ledger}


def record_from_obj(obj: dict[str, Any]) -> Record:
    """Validate a plain object back into its typed record (dispatched on `kind`: faster than
    letting the union discriminate, same validation)."""
    model = _MODELS.get(obj.get("kind"))  # type: ignore[arg-type]
    if model is None:
        return RECORD_ADAPTER.validate_python(obj)  # raises the standard "unknown tag" error
    result: Record = model.model_validate(obj)
    return result

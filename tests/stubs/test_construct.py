"""The fast builders of `stubs.construct` leave what the reference (pydantic's
`model_construct`, the dataclass's `__init__`) leaves, field by field (that every answer
rendered with one is the answer rendered with the other: tests/stubs/test_render.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from recorder.recorded_tool_call import HttpReply
from recorder.session import ToolResult
from stubs.api import StubAnswer
from stubs.construct import dataclass_builder, model_builder


def test_model_builder_leaves_what_model_construct_leaves() -> None:
    values: dict[str, Any] = {"content": "x", "structured": {"a": [1]}, "is_error": False,
                              "latency_ms": 3.5, "provenance": "exact", "exchange_id": None}
    built = model_builder(ToolResult)(dict(values))
    ref = ToolResult.model_construct(**values)
    assert built == ref and built.model_dump() == ref.model_dump()
    assert list(built.model_dump()) == list(ref.model_dump())
    assert built.model_fields_set == ref.model_fields_set
    assert built.__pydantic_extra__ is ref.__pydantic_extra__ is None
    assert built.__pydantic_private__ is ref.__pydantic_private__ is None
    with pytest.raises(ValidationError):  # still frozen
        built.content = "y"  # type: ignore[misc]
    assert built.model_copy(update={"content": "y"}).content == "y"
    h: dict[str, Any] = {"status": 200, "headers": [("a", "b")], "body": b"{}"}
    assert model_builder(HttpReply)(dict(h)) == HttpReply.model_construct(**h)


def test_dataclass_builder_leaves_what_init_leaves() -> None:
    result = ToolResult(content="x")
    values: dict[str, Any] = {"result": result, "provenance": "exact", "delay_s": 0.0,
                              "timeout": False, "http": None, "mcp_result": {"isError": False},
                              "mcp_error": None, "diagnostics": {}}
    built = dataclass_builder(StubAnswer)(dict(values))
    ref = StubAnswer(**values)
    assert built == ref and vars(built) == vars(ref) and list(vars(built)) == list(vars(ref))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.provenance = "y"  # type: ignore[misc]
    assert dataclasses.replace(built, provenance="y").provenance == "y"

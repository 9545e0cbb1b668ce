"""How the stubs build the objects of an answer (`ToolResult`, `HttpReply`, `StubAnswer`) from
parts they recorded or made themselves: the one fast twin left on the answer path (issue 19).

    REFERENCE  through the models: `model_construct` (pydantic's constructor for trusted
               data) and the dataclass's own `__init__`.
    FAST       the same values installed as the instance's `__dict__` in one step — the very
               state the reference leaves (tests/stubs/test_construct.py compares them
               field by field), without `model_construct` walking every field's aliases and
               defaults or a frozen dataclass setting each field through `object.__setattr__`.

`BUILD` picks one, here and nowhere else: FAST, unless the environment variable
`DEPLOYSIM_REFERENCE_PATHS` is set. Why it stays: without it the replay proxy
(`bench/serve.py`) spent ~10% more CPU a request (docs/performance.md, "Removed fast paths").
The tests in tests/stubs run against both (tests/stubs/conftest.py). A builder takes a dict
holding every field of its class, in declaration order; nothing is validated.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from recorder.recorded_tool_call import HttpReply
from recorder.session import ToolResult
from stubs.api import StubAnswer

_set = object.__setattr__


@dataclass(frozen=True)
class Builders:
    """One way of building each answer object from a dict of its fields."""

    name: str
    result: Callable[[dict[str, Any]], ToolResult]
    http: Callable[[dict[str, Any]], HttpReply]
    answer: Callable[[dict[str, Any]], StubAnswer]


def model_builder[M: BaseModel](cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """`build(values)` for a pydantic model: `cls.model_construct(**values)` when `values`
    holds every field of `cls` in declaration order (the dict becomes the instance's state)."""
    plain = (not cls.__pydantic_post_init__ and not cls.__pydantic_root_model__
             and cls.model_config.get("extra") != "allow" and not cls.__private_attributes__
             and all(f.alias is None and f.validation_alias is None
                     for f in cls.model_fields.values()))
    if not plain:  # a model needing pydantic's own construction: take it
        return lambda values: cls.model_construct(**values)
    new = cls.__new__

    def build(values: dict[str, Any]) -> M:
        m = new(cls)
        _set(m, "__dict__", values)
        _set(m, "__pydantic_fields_set__", set(values))
        _set(m, "__pydantic_extra__", None)
        _set(m, "__pydantic_private__", None)
        return m

    return build


def dataclass_builder[D](cls: type[D]) -> Callable[[dict[str, Any]], D]:
    """`build(values)` for a (frozen) dataclass without `__post_init__` or slots: `cls(**values)`
    when `values` holds every field in declaration order."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") \
            or "__slots__" in vars(cls):
        return lambda values: cls(**values)
    new = object.__new__

    def build(values: dict[str, Any]) -> D:
        d = new(cls)
        _set(d, "__dict__", values)
        return d

    return build


REFERENCE = Builders("reference",
                     result=lambda values: ToolResult.model_construct(**values),
                     http=lambda values: HttpReply.model_construct(**values),
                     answer=lambda values: StubAnswer(**values))
FAST = Builders("fast", result=model_builder(ToolResult), http=model_builder(HttpReply),
                answer=dataclass_builder(StubAnswer))

BUILD = REFERENCE if os.environ.get("DEPLOYSIM_REFERENCE_PATHS") else FAST
"""The builders every answer is made with (see the module docstring)."""

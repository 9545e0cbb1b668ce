"""Building answer objects from trusted parts without per-field machinery.

Every exact answer builds a `ToolResult` (a pydantic model), a `StubAnswer` (a frozen
dataclass) and, for HTTP tools, an `HttpReply`. `model_construct` walks every field's aliases
and defaults, and a frozen dataclass's `__init__` sets each field through
`object.__setattr__`; on the exact-answer path that was a third of the time. The builders here
take a dict holding every field, in declaration order, and install it as the instance's
`__dict__` in one step — the very state `model_construct(**values)` / `cls(**values)` leave
(`tests/stubs/test_stub_construct.py` compares them field by field). Only for values the
stubs made themselves: nothing is validated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

_set = object.__setattr__


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

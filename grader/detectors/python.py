"""`python`: your own function, by import path, taking the trajectory and returning findings.

    [behavior.detector]
    type = "python"
    function = "mypkg.checks:too_many_retries"    # module:function
    params = { limit = 5 }                        # passed as keyword arguments
    version = "2"                                 # recorded in verdicts; bump when it changes

The function receives a `grader.trajectory.Trajectory` (plus `params`) and returns what it
found, in any of these forms: a `Finding` or an iterable of them, `Evidence` items (each a
finding at its message), an int message index or an iterable of them, True (the whole
trajectory, for trajectory scope), or None / False / an empty iterable (clean).

>>> def too_many_retries(traj, limit=5):
...     errors = [c for c in traj.calls if c.is_error]
...     if len(errors) > limit:
...         yield Finding.at(errors[limit])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from pydantic import Field, field_validator

from grader.detectors.detector import Detector, DetectorConfig, Finding, register
from grader.trajectory import Trajectory
from grader.verdict import Evidence


class PythonConfig(DetectorConfig):
    """Rubric table of the `python` detector."""

    type: Literal["python"] = "python"
    function: str
    """Import path `module:function` (the module must be importable)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for the function."""
    version: str = "1"
    """Your function's version, recorded in verdicts."""

    @field_validator("function")
    @classmethod
    def _path(cls, v: str) -> str:
        module, _, attr = v.partition(":")
        if not module or not attr:
            raise ValueError(f"must be an import path module:function (got {v!r})")
        try:
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot be imported ({exc}); check the module is on the path"
                             ) from None
        if not callable(obj):
            raise ValueError(f"names {v!r}, which is not a function")
        return v


def load_function(path: str) -> Callable[..., Any]:
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return,unused-ignore]


def as_findings(value: Any, traj: Trajectory) -> Iterator[Finding]:
    """Normalise whatever a python detector returned into findings."""
    if value is None or value is False:
        return
    if value is True:
        yield Finding(None)
        return
    items: Iterable[Any] = [value] if isinstance(value, Finding | Evidence | int) else value
    for item in items:
        if isinstance(item, Finding):
            yield item
        elif isinstance(item, Evidence):
            yield Finding(item.message_index, (item,))
        elif isinstance(item, int) and not isinstance(item, bool):
            yield Finding(item, (Evidence(message_index=item,
                                          excerpt=traj.text_of(item)[:200]),))
        else:
            raise TypeError(f"a python detector returned {type(item).__name__}; return "
                            "Finding, Evidence or message indices")


@register
class PythonDetector(Detector):
    """Calls the configured function on each trajectory."""

    type = "python"
    version = "1"
    Config = PythonConfig

    def setup(self) -> None:
        self._fn = load_function(self.config.function)

    def detect(self, traj: Trajectory) -> Iterator[Finding]:
        yield from as_findings(self._fn(traj, **self.config.params), traj)

    def pins(self) -> dict[str, str]:
        return {"function": self.config.function, "function_version": self.config.version}

"""Stub provenance folded into the classes the viewer filters by."""

from __future__ import annotations

import pytest

from deploysim.viewer.provenance import classes_of, session_classes
from recorder.session import Message, ToolResult


@pytest.mark.parametrize(("provenance", "classes"), [
    (None, {"recorded"}),
    ("exact", {"recorded"}),
    ("session", {"recorded"}),
    ("nearest", {"synthetic"}),
    ("synthetic", {"synthetic"}),
    ("simulated", {"synthetic"}),
    ("live", {"live"}),
    ("miss", {"miss"}),
    ("exact+perturbed:inject", {"recorded", "perturbed"}),
    ("nearest+perturbed:latency+perturbed:truncate", {"synthetic", "perturbed"}),
])
def test_classes_of(provenance: str | None, classes: set[str]) -> None:
    assert classes_of(provenance) == classes


def test_a_runs_classes_come_from_its_generated_part_only() -> None:
    msgs = [Message(role="tool", result=ToolResult(content="prefix")),  # production's own
            Message(role="tool", origin="generated",
                    result=ToolResult(content="x", provenance="nearest+perturbed:inject"))]
    assert session_classes(msgs, generated_only=True) == ["synthetic", "perturbed"]
    assert session_classes(msgs, generated_only=False) == ["recorded", "synthetic", "perturbed"]

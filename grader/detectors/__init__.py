"""Detectors: the registry and the built-ins (each registers itself on import).

Built-in types: regex, tool_call, sequence, claims_vs_actions, injection_followed,
repeated_call, llm_judge, python. Plugins register under the `deploysim.detectors` entry point
group (name → a `Detector` subclass) or by importing a module that uses `@register`.
"""

from grader.detectors import (  # noqa: F401  (imported for their registration)
    claims_vs_actions,
    injection_followed,
    llm_judge,
    python,
    regex,
    repeated_call,
    sequence,
    tool_call,
)
from grader.detectors.detector import (
    ENTRY_POINT_GROUP,
    Detector,
    DetectorConfig,
    Finding,
    detector_types,
    evidence_for,
    excerpt,
    get_detector,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Detector",
    "DetectorConfig",
    "Finding",
    "detector_types",
    "evidence_for",
    "excerpt",
    "get_detector",
    "register",
]

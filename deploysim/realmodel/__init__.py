"""Real inference on this machine: a small instruct model from the package registry, served by
llama.cpp's C++ server on loopback (see docs/real-model.md).

    from deploysim.realmodel import LocalModelServer
    with LocalModelServer() as server:
        ...  # server.base_url speaks OpenAI Chat Completions, tools included
"""

from __future__ import annotations

from deploysim.realmodel.errors import RealModelUnavailable, WeightsMismatch
from deploysim.realmodel.llama_server import RUNTIME, LocalModelServer, runtime_missing
from deploysim.realmodel.weights import (
    MODEL_NAME,
    PINNED,
    ModelWeights,
    Provenance,
    locate_weights,
)

__all__ = [
    "MODEL_NAME",
    "PINNED",
    "RUNTIME",
    "LocalModelServer",
    "ModelWeights",
    "Provenance",
    "RealModelUnavailable",
    "WeightsMismatch",
    "locate_weights",
    "runtime_missing",
]

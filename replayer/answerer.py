"""The default tool answerer of a replay: the stub engine over the corpus.

A module of its own (re-exported by `replayer.replay`) so that a worker process can build it
without importing the whole `replay()` machinery and its progress display.
"""

from __future__ import annotations

from typing import Any

from recorder.corpus import Corpus
from replayer.clients import Accounting
from replayer.config import ReplayConfig
from replayer.errors import ReplayConfigError
from stubs.api import ToolAnswerer


def default_answerer(corpus: Corpus, config: ReplayConfig) -> ToolAnswerer:
    """The stub engine over the corpus, with the run's seed and profile."""
    try:
        from stubs.engine import StubEngine
    except ImportError as exc:
        raise ReplayConfigError("The stub engine (stubs.engine) is not available in this "
                                "install; install deploysim with its stubs package.") from exc
    simulator = None
    cache = None
    if config.tool_simulator:
        from recorder.response_cache import ResponseCache
        from replayer.shard import build_client

        simulator = build_client(config, config.tool_simulator, Accounting())
        cache = ResponseCache(config.cache_path()) if config.cache else None
    fallbacks = tuple(config.stub_fallbacks)
    if simulator is not None and "simulate" not in fallbacks:
        fallbacks += ("simulate",)
    from stubs.policy import engine_miss

    engine: ToolAnswerer = StubEngine.from_corpus(
        corpus, seed=config.seed, profile=config.profile or "none", fallbacks=fallbacks,
        miss=engine_miss(config.stub_miss), simulator=simulator, cache=cache)
    return engine


def description(answerer: ToolAnswerer) -> dict[str, Any]:
    """What the answerer says about itself for the run manifest (`describe()`, if it has one)."""
    describe = getattr(answerer, "describe", None)
    return dict(describe()) if callable(describe) else {}

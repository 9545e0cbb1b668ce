"""The default tool answerer of a replay: the stub engine over the corpus.

A module of its own (re-exported by `replayer.replay`) so that a worker process can build it
without importing the whole `replay()` machinery and its progress display.

With `--tool-simulator MODEL` the order a call goes through is

    exact recording ─► the simulator ─► the other fallbacks (nearest, synthesize), only when
                                         the simulator fails (counted: `simulator_failures`)

— a user who names a simulator wants unrecorded calls played by it, not answered by the
nearest recording first. `--fallbacks` that names `simulate` keeps the order it gives.
"""

from __future__ import annotations

import weakref
from typing import Any

from recorder.corpus import Corpus
from recorder.session import Message
from replayer.clients import Accounting
from replayer.clients.http_client import HttpModelClient
from replayer.errors import ReplayConfigError
from replayer.replay_config import ReplayConfig
from runtime.response_cache import ResponseCache
from stubs.api import ToolAnswerer


class OpenedOnUse(ResponseCache):
    """The run's response cache, opened at its first read or write.

    The answerer is built before the run folder is checked (`replayer.run_folder.prepare`, which
    refuses a folder that is not empty and holds no run); a cache file created at that moment
    inside a new `--out` would make the folder fail its own check. The first tool call comes
    after the check. `close` may be followed by more use: the cache opens again.
    """

    def __init__(self, path: str) -> None:  # no super().__init__: nothing is opened yet
        self.path = path
        self._opened: ResponseCache | None = None
        self.hits = self.misses = 0

    def _cache(self) -> ResponseCache:
        if self._opened is None:
            self._opened = ResponseCache(self.path, durable=False)
        return self._opened

    def get(self, key: str) -> Message | None:
        found = self._cache().get(key)
        self.hits += found is not None
        self.misses += found is None
        return found

    def put(self, key: str, message: Message) -> None:
        self._cache().put(key, message)

    def put_many(self, items: list[tuple[str, Message]]) -> None:
        self._cache().put_many(items)

    def keys(self) -> set[str]:
        return self._cache().keys()

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None


_OWNED: weakref.WeakKeyDictionary[Any, tuple[HttpModelClient, ResponseCache | None]] = \
    weakref.WeakKeyDictionary()
"""What `default_answerer` opened for an answerer (the simulator's client and cache), for
`release` to close."""


def stub_fallbacks(config: ReplayConfig) -> tuple[str, ...]:
    """The fallback layers in the order the engine tries them (see the module docstring)."""
    fallbacks = tuple(config.stub_fallbacks)
    if config.tool_simulator and "simulate" not in fallbacks:
        return ("simulate", *fallbacks)
    return fallbacks


def default_answerer(corpus: Corpus, config: ReplayConfig) -> ToolAnswerer:
    """The stub engine over the corpus, with the run's seed and profile."""
    try:
        from stubs.engine import StubEngine
    except ImportError as exc:
        raise ReplayConfigError("The stub engine (stubs.engine) is not available in this "
                                "install; install deploysim with its stubs package.") from exc
    simulator: HttpModelClient | None = None
    cache: ResponseCache | None = None
    if config.tool_simulator:
        from replayer.shard import build_client

        simulator = build_client(config, config.tool_simulator, Accounting())
        cache = OpenedOnUse(config.cache_path()) if config.cache else None
    from stubs.miss_policy import engine_miss

    engine: ToolAnswerer = StubEngine.from_corpus(
        corpus, seed=config.seed, profile=config.profile or "none",
        fallbacks=stub_fallbacks(config), miss=engine_miss(config.stub_miss),
        simulator=simulator, cache=cache)
    if simulator is not None:
        _OWNED[engine] = (simulator, cache)
    return engine


async def release(answerer: object) -> None:
    """Close the connections and files `default_answerer` opened for `answerer` (nothing for
    any other answerer). The answerer stays usable: they open again on their next use (a
    batch replay runs one shard per round with the same answerer)."""
    owned = _OWNED.get(answerer)
    if owned is None:
        return
    client, cache = owned
    await client.close()
    if cache is not None:
        cache.close()


def description(answerer: ToolAnswerer) -> dict[str, Any]:
    """What the answerer says about itself for the run manifest (a copy of `describe()`)."""
    return dict(answerer.describe())


def simulator_failures(answerer: ToolAnswerer) -> int:
    """How many calls the tool simulator failed to answer (each then went to the next
    fallback), from the answerer's description; 0 without a simulator."""
    simulated = description(answerer).get("simulator")
    return int(simulated.get("failures") or 0) if isinstance(simulated, dict) else 0

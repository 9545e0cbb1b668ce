"""`deploysim serve` assembled: a gateway in replay mode with the routes the corpus was
recorded under, the stub engine behind its tool routes, and the run capture.

    ServeConfig ──► ReplayServer.load(cfg)     corpus → Catalog + StubEngine (off the loop)
                   ├── start()                 Gateway(routes) listening; the banner line
                   └── stop()                  run folder finished: trajectories + manifest

Per-route modes (`--route NAME=MODE`, NAME `/` for the unnamed route): `replay` answers from
the recordings (the default for tool routes; LLM routes without a candidate answer from
recorded responses), `record` forwards to the real upstream and captures the exchanges in the
run, `forward` forwards without capturing. `--candidate [NAME=]URL` sends an LLM route to a
live model; the agent's own loop then drives it.

>>> async with await ReplayServer.load(ServeConfig(corpus=["rec/"])) as server:  # doctest: +SKIP
...     print(server.url)
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from proxy.gateway import Gateway
from proxy.metrics import Metrics
from proxy.replay.catalog import Catalog
from proxy.replay.desk import ToolDesk
from proxy.replay.diagnostics import ServeLog
from proxy.replay.errors import ServeConfigError
from proxy.replay.http_handler import HttpNames, HttpToolReplayHandler
from proxy.replay.llm_handler import LlmRouteHandler
from proxy.replay.llm_index import LlmIndex
from proxy.replay.mcp_handler import McpReplayHandler
from proxy.replay.mcp_protocol import McpResponder, route_replies
from proxy.replay.run_capture import RunCapture, RunFiles
from proxy.replay.serve_config import (
    ROUTE_MODES,
    ServeConfig,
    check_candidate,
    load_stubs,
    miss_policy,
    run_id_of,
    split_named,
    upstream_map,
)
from proxy.routes import Mode, Route
from proxy.signals import stop_on_signals
from recorder.corpus import Corpus
from recorder.session import Session
from recorder.turns import counted_turns
from recorder.version import __version__
from runtime.model_client import ModelClient
from runtime.run_manifest import RunManifest, write_manifest
from stubs.api import ToolAnswerer

__all__ = ["ReplayServer", "ServeConfig", "serve"]


class ReplayServer:
    """A running (or ready) replay proxy; build it with `ReplayServer.load`."""

    def __init__(self, cfg: ServeConfig, catalog: Catalog, answerer: ToolAnswerer, *,
                 corpus_hash: str | None = None, corpus_paths: list[str] | None = None,
                 stubs: dict[str, Any] | None = None,
                 live: ToolAnswerer | None = None) -> None:
        self.fallbacks, self.miss = miss_policy(cfg.miss, cfg.fallbacks)
        self.cfg = cfg
        self.catalog = catalog
        self.answerer = answerer
        self.corpus_hash = corpus_hash
        self.corpus_paths = corpus_paths or list(cfg.corpus)
        self.stubs = stubs or {}
        self.live = live
        self.candidates = dict(check_candidate(c) for c in cfg.candidates)
        self.modes = self._modes()
        self.upstreams = self._upstreams()
        # The candidate's URL is left out: a local model server's port changes every start,
        # and the same script against the same recordings must give the same run (and
        # exchange ids). The manifest names the candidates.
        self.run_id = run_id_of({"corpus": corpus_hash or self.corpus_paths,
                               "profile": self.stubs.get("profile") or cfg.profile,
                               "seed": cfg.seed, "miss": self.miss,
                               "fallbacks": list(self.fallbacks),
                               "candidate_routes": sorted(str(k) for k in self.candidates),
                               "modes": {str(k): v for k, v in self.modes.items()}})
        self.log = ServeLog()
        self.metrics = Metrics()
        self.desk = ToolDesk(answerer, self.log)
        self.capture: RunCapture | None = None
        if cfg.run_out is not None:
            self.capture = RunCapture(cfg.run_out, run_id=self.run_id, metrics=self.metrics,
                                      isolation=cfg.isolation, redact=cfg.redact,
                                      redact_rules=cfg.redact_rules,
                                      session_header=cfg.session_header)
        self.gateway = Gateway(self._routes(), self.capture, metrics=self.metrics,
                               session_header=cfg.session_header, name="deploysim serve")
        self.started = 0.0
        self.files: RunFiles | None = None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    async def load(cls, cfg: ServeConfig, *, answerer: ToolAnswerer | None = None,
                   simulator: ModelClient | None = None) -> ReplayServer:
        """Read the corpus and build the stub engine (off the event loop), then the server.
        `answerer` replaces the stub engine (tests, custom answerers)."""
        return await asyncio.to_thread(cls._load, cfg, answerer, simulator)

    @classmethod
    def _load(cls, cfg: ServeConfig, answerer: ToolAnswerer | None,
              simulator: ModelClient | None) -> ReplayServer:
        miss_policy(cfg.miss, cfg.fallbacks)  # refuse a bad policy before reading anything
        for spec in cfg.candidates:
            check_candidate(spec)
        corpus = Corpus(cfg.corpus)
        forwarded = {split_named(c, "--candidate")[0] for c in cfg.candidates}
        catalog = Catalog.scan(corpus, keep_llm=lambda route: route not in forwarded)
        if not catalog.routes and not cfg.candidates:
            raise ServeConfigError(f"The corpus {' '.join(cfg.corpus)} holds no LLM, MCP or "
                                   "HTTP tool traffic to stand in for; record some with "
                                   "`deploysim record` first.")
        live = None
        stubs: dict[str, Any] = {}
        if answerer is None:
            answerer, stubs, live = load_stubs(corpus, catalog, seed=cfg.seed,
                                               profile=cfg.profile, miss=cfg.miss,
                                               simulator=simulator, index=cfg.stub_index,
                                               upstreams=upstream_map(cfg, catalog),
                                               fallbacks=cfg.fallbacks)
        corpus_hash = stubs.get("corpus_hash") or corpus.content_hash()
        return cls(cfg, catalog, answerer, corpus_hash=corpus_hash, corpus_paths=corpus.paths,
                   stubs=stubs, live=live)

    def _modes(self) -> dict[str | None, str]:
        modes: dict[str | None, str] = {}
        for spec in self.cfg.routes:
            name, mode = split_named(spec, "--route")
            if mode not in ROUTE_MODES:
                raise ServeConfigError(f"--route {spec!r} names the mode {mode!r}; use "
                                       "replay, record or forward.")
            modes[name] = mode
        return modes

    def _upstreams(self) -> dict[str | None, str]:
        return upstream_map(self.cfg, self.catalog)

    def _routes(self) -> list[Route]:
        cat, cfg = self.catalog, self.cfg
        bases = {name: info.upstream for name, info in cat.routes.items() if info.upstream}
        common = dict(capture=self.capture, session_header=cfg.session_header, bases=bases)
        names = list(cat.routes) + [n for n in self.candidates if n not in cat.routes] + \
            [n for n in self.modes if n not in cat.routes and n not in self.candidates]
        routes: list[Route] = []
        mcp: dict[str | None, McpResponder] = {}
        http: list[str | None] = []
        llm: list[str | None] = []
        for name in names:
            info = cat.routes.get(name)
            mode = self.modes.get(name, "replay")
            label = "/" if name is None else name
            if mode != "replay" or (info is None and name not in self.candidates):
                upstream = self.upstreams.get(name)
                if upstream is None:
                    raise ServeConfigError(f"The route {label} has mode {mode} but no upstream "
                                           "is known for it; give --upstream "
                                           f"{label}=URL.")
                if name in self.candidates:
                    raise ServeConfigError(f"The route {label} is both a --candidate and "
                                           f"--route {label}={mode}; drop one of them.")
                routes.append(Route(name, upstream, ROUTE_MODES[mode]))
            elif name in self.candidates or (info is not None and info.kind == "llm"):
                llm.append(name)
            elif info is not None and info.kind == "mcp":
                mcp[name] = McpResponder(name, cat.mcp_servers.get(name), self.desk,
                                         route_replies(cat.mcp_replies, name))
            else:
                http.append(name)
        if llm:
            index = LlmIndex.build(cat.llm_exchanges) if cat.llm_exchanges else None
            llm_handler = LlmRouteHandler(self.log, candidates=self.candidates, index=index,
                                          **common)  # type: ignore[arg-type]
            # a candidate route is forwarded and captured (health says `record`); the others
            # answer from recorded responses (`replay`)
            routes += [Route(n, self.candidates.get(n),
                             Mode.RECORD if n in self.candidates else Mode.REPLAY, llm_handler)
                       for n in llm]
        if mcp:
            mcp_handler = McpReplayHandler(mcp, self.desk, seed=cfg.seed,
                                           **common)  # type: ignore[arg-type]
            routes += [Route(n, None, Mode.REPLAY, mcp_handler) for n in mcp]
        if http:
            http_handler = HttpToolReplayHandler(self.desk, names=HttpNames(cat.http_names),
                                                 **common)  # type: ignore[arg-type]
            routes += [Route(n, None, Mode.REPLAY, http_handler) for n in http]
        return routes

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.gateway.url

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        """Start capturing (when asked) and listening; returns the base URL."""
        if self.capture is not None:
            await asyncio.to_thread(self.capture.start)
        try:
            url = await self.gateway.start(host if host is not None else self.cfg.listen[0],
                                           port if port is not None else self.cfg.listen[1])
        except BaseException:
            if self.capture is not None:
                await self.capture.sink.aclose()
            raise
        self.started = time.time()
        return url

    async def stop(self) -> dict[str, Any]:
        """Stop listening; finish the run folder; the closing summary."""
        await self.gateway.stop()
        if self.live is not None:
            await self.live.close()
        if self.capture is not None:
            self.files = await self.capture.finish()
            await asyncio.to_thread(self._write_manifest, self.files)
        return self.result()

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def banner(self) -> str:
        """One line: where it listens and what each route does."""
        parts = []
        for r in self.gateway.routes:
            where = self.url + ("/" if r.name is None else f"/{r.name}")
            info = self.catalog.routes.get(r.name)
            kind = info.kind if info is not None else "llm" if r.name in self.candidates \
                else "tool"
            if r.name in self.candidates:
                what = f"{kind} → candidate {self.candidates[r.name]}"
            elif r.handler is None:
                what = f"{kind} → {r.upstream_url} ({self.modes.get(r.name)})"
            elif kind == "llm":
                what = "llm, recorded responses"
            else:
                what = f"{kind}, replayed"
            parts.append(f"{where} [{what}]")
        profile = (self.stubs.get("profile") or {}).get("name", self.cfg.profile)
        line = (f"deploysim serve: listening on {self.url}; point the agent at "
                + ", ".join(parts) + f"; profile {profile}, seed {self.cfg.seed}, "
                f"fallbacks {','.join(self.fallbacks) or 'none'}, miss {self.miss}")
        if self.cfg.run_out:
            line += f"; run to {self.cfg.run_out}"
        return line

    # -- the run --------------------------------------------------------------------------

    def counts(self, sessions: list[Session]) -> dict[str, int]:
        replays = [s for s in sessions if s.source.type == "replay"]
        turns = [t for s in replays for t in counted_turns(s)]
        tool_calls = sum(len(t.tool_calls(s)) for s in replays for t in counted_turns(s))
        errors = sum(1 for s in replays for t in counted_turns(s)
                     if any(m.error for m in t.steps(s)))
        return {"trajectories": len(replays), "turns": len(turns), "tool_calls": tool_calls,
                "errors": errors, "tool_only_sessions": len(sessions) - len(replays),
                "tools_answered": self.log.calls, "misses": self.log.miss_count,
                "exchanges": self.metrics.recorded}

    def _write_manifest(self, files: RunFiles) -> None:
        assert self.cfg.run_out is not None
        profile = self.stubs.get("profile") or {"name": self.cfg.profile}
        manifest = RunManifest(
            run_id=self.run_id, kind="serve", created=self.started or time.time(),
            deploysim_version=__version__, corpus_hash=self.corpus_hash,
            corpus_paths=self.corpus_paths, mode="proxy", seed=self.cfg.seed, profile=profile,
            model={"candidates": {("/" if k is None else k): v
                                  for k, v in self.candidates.items()},
                   "llm_answers": "candidate" if self.candidates else "recorded"},
            stubs=self.stubs, counts=self.counts(files.sessions),
            provenance=self.log.provenance_mix(), misses=self.log.misses,
            routes=self.catalog.describe(),
            route_modes={("/" if k is None else k): v for k, v in self.modes.items()},
            miss_policy=self.miss, fallbacks=list(self.fallbacks),
            answers=self.log.answers(), warnings=self.log.warnings(),
            summary=self.log.summary(),
            files={"exchanges": files.exchanges, "trajectories": files.trajectories})
        write_manifest(self.cfg.run_out, manifest)

    def result(self) -> dict[str, Any]:
        """The closing summary (`deploysim serve --json` prints this object)."""
        out: dict[str, Any] = {"run_id": self.run_id, "url": self.url, **self.log.summary(),
                               "miss_policy": self.miss}
        if self.files is not None:
            out["run_out"] = self.cfg.run_out
            out["trajectories"] = sum(1 for s in self.files.sessions
                                      if s.source.type == "replay")
            out["cassettes"] = [*self.files.exchanges,
                                *([self.files.trajectories] if self.files.trajectories else [])]
        return out




async def serve(cfg: ServeConfig, announce: Callable[[str], None], *,
                simulator: ModelClient | None = None) -> dict[str, Any]:
    """Run `deploysim serve` until SIGINT/SIGTERM; returns the closing summary."""
    from proxy.recording import GIL_SWITCH_INTERVAL

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    server = await ReplayServer.load(cfg, simulator=simulator)
    await server.start()
    announce(server.banner())
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await stop.wait()
    return await server.stop()

"""`deploysim serve-stdio`: an MCP stdio server answering from recordings, for agents that
launch their tool servers as commands.

The agent runs `deploysim serve-stdio CORPUS --server NAME` where it would run the real server
command. Every newline-delimited JSON-RPC message on stdin gets its reply on stdout, as the
recorded server NAME would give it (`initialize` or `server/discover`, the recorded lists and
reads, stubbed `tools/call` with the profile's perturbations: `proxy.replay.mcp_protocol`);
stdout carries nothing else. The process ends when the agent closes stdin; with `--run-out`
the session is then written as a run.

NAME is the server's route or `record-stdio` name; a stdio server recorded without a name
(before `record-stdio` named servers by default) answers to the name its command gives
(`proxy.stdio_shim.default_server_name`), the unnamed gateway route to `/`. With one MCP
server in the corpus, `--server` may be left out.

>>> code = await serve_stdio(StdioConfig(corpus=["rec/"], server="weather"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import sys
import time
from dataclasses import dataclass
from typing import Any

from proxy.capture import Capture
from proxy.metrics import Metrics
from proxy.replay.binding import Binding, bind
from proxy.replay.catalog import Catalog
from proxy.replay.desk import ToolDesk
from proxy.replay.diagnostics import ServeLog
from proxy.replay.errors import ServeConfigError
from proxy.replay.mcp_protocol import (
    PARSE_ERROR,
    McpCallContext,
    McpResponder,
    error,
    route_replies,
    speaks_modern,
)
from proxy.replay.run_capture import PRODUCER, SERVED_LABEL, RunCapture
from proxy.replay.serve_config import load_stubs, run_id_of
from proxy.sink import Isolation
from proxy.stdio_io import Reader, Writer, thread_reader, thread_writer
from proxy.stdio_shim import LineAssembler, default_server_name
from recorder.corpus import Corpus
from recorder.version import __version__
from runtime.run_manifest import RunManifest, write_manifest
from stubs.api import ToolAnswerer


@dataclass
class StdioConfig:
    """What `deploysim serve-stdio` was asked."""

    corpus: list[str]
    server: str | None
    """The recorded MCP server to stand in for (its route or `record-stdio` name); None: the
    corpus's only one."""
    profile: str = "none"
    seed: int = 0
    miss: str = "error"
    session: str | None = None
    """The recorded session whose answers are preferred (like `X-Deploysim-Session`)."""
    run_out: str | None = None
    isolation: Isolation = "thread"
    """One agent's calls at its own pace: a writer thread is plenty, and starts at once."""
    redact_rules: str | None = None
    stub_index: str | None = None


class StdioReplay:
    """The stdio loop around an `McpResponder` (see the module docstring)."""

    def __init__(self, cfg: StdioConfig, responder: McpResponder, log: ServeLog, *,
                 capture: RunCapture | None = None) -> None:
        self.cfg = cfg
        self.responder = responder
        self.log = log
        self.capture = capture
        self.binding: Binding = bind(cfg.session)
        self.name = cfg.server or str(responder.server or "/")
        self.url = f"stdio:{self.name}"

    async def run(self, read: Reader, write: Writer) -> None:
        """Answer every line until stdin closes."""
        lines = LineAssembler()
        while data := await read():
            for line in lines.feed(data):
                await self.line(line, write)

    async def line(self, line: bytes, write: Writer) -> None:
        started, t0 = time.time(), time.perf_counter()
        try:
            doc: Any = json.loads(line)
        except (ValueError, RecursionError) as exc:
            docs: list[Any] = [error(None, PARSE_ERROR, f"Parse error: {exc}")]
            served = []
        else:
            ctx = McpCallContext(self.binding, speaks_modern(doc))
            replies = await self.responder.handle_all(doc if isinstance(doc, list) else [doc],
                                                      ctx, None)
            served = ctx.served
            docs = [replies] if isinstance(doc, list) and replies else list(replies)
        out = b"".join(json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                       for d in docs)
        if out:
            await write(out)
        if self.capture is not None:
            cap = Capture(method="STDIO", url=self.url, started_at=started, request_body=line,
                          transport="stdio", route=self.responder.server,
                          session_hint=self.cfg.session,
                          labels={SERVED_LABEL: PRODUCER, "capture": "stdio"})
            if out:
                cap.status = 200
                cap.response_body = out.rstrip(b"\n")
            cap.ended_at = started + (time.perf_counter() - t0)
            await self.capture.put(cap, served)


def stdio() -> tuple[Reader, Writer]:
    """Our stdin and stdout, without blocking the event loop.

    stdin is read on a daemon thread: it works for pipes, files and /dev/null alike (epoll
    refuses the last two), costs nothing at the pace an agent calls tools, and a read blocked
    on a silent agent never holds up the process's exit. Writes are small and go through a
    worker thread so a slow reader never stalls the loop.
    """
    return (thread_reader(sys.stdin.fileno(), "deploysim-serve-stdin"),
            thread_writer(sys.stdout.fileno()))


def load(cfg: StdioConfig, *, answerer: ToolAnswerer | None = None
         ) -> tuple[StdioReplay, dict[str, Any], str]:
    """Read the corpus and build the replay for `cfg.server`: (replay, stub description,
    corpus hash)."""
    corpus = Corpus(cfg.corpus)
    catalog = Catalog.scan(corpus, keep_llm=lambda route: False)
    route = pick_server(catalog, cfg.server)
    stubs: dict[str, Any] = {}
    if answerer is None:
        answerer, stubs, _live = load_stubs(corpus, catalog, seed=cfg.seed, profile=cfg.profile,
                                            miss=cfg.miss, index=cfg.stub_index)
    log = ServeLog()
    desk = ToolDesk(answerer, log)
    responder = McpResponder(route, catalog.mcp_servers.get(route), desk,
                             route_replies(catalog.mcp_replies, route))
    corpus_hash = str(stubs.get("corpus_hash") or corpus.content_hash())
    capture = None
    if cfg.run_out is not None:
        run_id = run_id_of({"corpus": corpus_hash, "profile": stubs.get("profile") or cfg.profile,
                          "seed": cfg.seed, "miss": cfg.miss, "stdio": route})
        capture = RunCapture(cfg.run_out, run_id=run_id, metrics=Metrics(),
                             isolation=cfg.isolation, redact_rules=cfg.redact_rules)
    return StdioReplay(cfg, responder, log, capture=capture), stubs, corpus_hash


def server_names(catalog: Catalog) -> dict[str, str | None]:
    """The names `--server` takes → the route each stands for (module docstring)."""
    names: dict[str, str | None] = {}
    for route, info in catalog.routes.items():
        if info.kind != "mcp":
            continue
        if route is not None:
            names[route] = route
            continue
        names["/"] = None
        command = (info.upstream or "").removeprefix("stdio:").lstrip("/")
        if (info.upstream or "").startswith("stdio:") and command:
            with contextlib.suppress(ValueError):  # unbalanced quotes in a hand-made one
                names.setdefault(default_server_name(shlex.split(command)), None)
    return names


def pick_server(catalog: Catalog, server: str | None) -> str | None:
    """The route `--server` names (or the only MCP server when it is None); else a usage error
    that lists the names the corpus has."""
    names = server_names(catalog)
    if server is None and len(set(names.values())) == 1:
        return next(iter(names.values()))
    if server is not None and server in names:
        return names[server]
    known = ", ".join(sorted(names)) or "none"
    if not names:
        raise ServeConfigError("The corpus holds no MCP server; record one with `deploysim "
                               "record-stdio` (or `deploysim record` for HTTP servers).")
    if server is None:
        raise ServeConfigError(f"The corpus holds several MCP servers ({known}); pass one of "
                               "them to --server.")
    raise ServeConfigError(f"The corpus holds no MCP server recorded as {server!r} "
                           f"(MCP servers in it: {known}); pass one of them to --server.")


async def serve_stdio(cfg: StdioConfig, *, read: Reader | None = None,
                      write: Writer | None = None) -> dict[str, Any]:
    """Serve stdin/stdout (or the given reader and writer) until EOF; the closing summary."""
    replay, stubs, corpus_hash = await asyncio.to_thread(load, cfg)
    started = time.time()
    if read is None or write is None:
        read, write = stdio()
    capture = replay.capture
    if capture is not None:
        await asyncio.to_thread(capture.start)
    await replay.run(read, write)
    result: dict[str, Any] = {"server": replay.name, **replay.log.summary()}
    if capture is not None and cfg.run_out is not None:
        files = await capture.finish()
        manifest = RunManifest(
            run_id=capture.run_id, kind="serve", created=started, deploysim_version=__version__,
            corpus_hash=corpus_hash, corpus_paths=list(cfg.corpus), mode="proxy-stdio",
            seed=cfg.seed, profile=stubs.get("profile") or {"name": cfg.profile}, stubs=stubs,
            counts={"tools_answered": replay.log.calls, "misses": replay.log.miss_count,
                    "tool_only_sessions": len(files.sessions)},
            provenance=replay.log.provenance_mix(), misses=replay.log.misses,
            miss_policy=cfg.miss, summary=replay.log.summary())
        await asyncio.to_thread(write_manifest, cfg.run_out, manifest)
        result["run_out"] = cfg.run_out
        result["run_id"] = capture.run_id
    return result

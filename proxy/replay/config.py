"""What `deploysim serve` is asked, and what the options become: the configuration, the
`--miss` policies, per-route modes, the stub engine behind the tools, the run's identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from proxy.replay.catalog import Catalog
from proxy.replay.errors import ServeConfigError
from proxy.routes import Mode
from proxy.sink import Isolation
from recorder.corpus import Corpus
from recorder.llm import ModelClient
from stubs.api import ToolAnswerer

MISS_POLICIES: dict[str, tuple[tuple[str, ...], str]] = {
    "error": ((), "error"),
    "synthesize": (("nearest", "synthesize"), "error"),
    "simulate": (("nearest", "simulate"), "error"),
    "forward": ((), "forward"),
}
"""`--miss` → (stub fallbacks tried after an exact miss, then the engine's miss policy)."""
ROUTE_MODES = {"replay": Mode.REPLAY, "record": Mode.RECORD, "forward": Mode.PASSTHROUGH}
"""`--route NAME=MODE` → the gateway mode of the route."""


def check_miss(miss: str) -> None:
    """Refuse an unknown `--miss` policy."""
    if miss not in MISS_POLICIES:
        raise ServeConfigError(f"--miss {miss!r} is not one of {', '.join(MISS_POLICIES)}; use "
                               "error to answer misses with a tool error.")


@dataclass
class ServeConfig:
    """Everything a serve run needs (what the CLI options become)."""

    corpus: list[str]
    listen: tuple[str, int] = ("127.0.0.1", 8788)
    profile: str = "none"
    seed: int = 0
    miss: str = "error"
    candidates: list[str] = field(default_factory=list)
    """`[NAME=]URL`: LLM routes forwarded to a live candidate model."""
    routes: list[str] = field(default_factory=list)
    """`NAME=replay|record|forward` (NAME `/` is the unnamed route)."""
    upstreams: list[str] = field(default_factory=list)
    """`[NAME=]URL`: where record/forward routes and forwarded misses go (default: the
    upstream the corpus was recorded against)."""
    run_out: str | None = None
    session_header: str = "X-Deploysim-Session"
    isolation: Isolation = "process"
    redact: bool = True
    redact_rules: str | None = None
    stub_index: str | None = None
    """A prebuilt stub index (`deploysim stubs build`) for this corpus."""


def split_named(spec: str, option: str) -> tuple[str | None, str]:
    """`NAME=VALUE` or `VALUE` → (name or None, value); NAME `/` names the unnamed route."""
    head, sep, tail = spec.partition("=")
    if sep and "://" not in head:
        if not tail:
            raise ServeConfigError(f"{option} {spec!r} has nothing after '='; write it as "
                                   f"{option} NAME=VALUE.")
        return (None if head in ("", "/") else head), tail
    return None, spec


def run_id_of(identity: dict[str, Any]) -> str:
    """A stable run id: the hash of what makes the run (never its time or ports)."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return "serve-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_stubs(corpus: Corpus, catalog: Catalog, *, seed: int, profile: str, miss: str,
               simulator: ModelClient | None = None, index: str | None = None,
               upstreams: dict[str | None, str] | None = None
               ) -> tuple[ToolAnswerer, dict[str, Any], Any]:
    """The stub engine for a `--miss` policy: (answerer, its description, the live tools it
    forwards misses to, or None)."""
    from stubs.engine import StubEngine

    check_miss(miss)
    fallbacks, policy = MISS_POLICIES[miss]
    live = None
    if miss == "forward":
        from proxy.replay.live import LiveTools

        live = LiveTools(upstreams or {}, catalog.mcp_servers)
    engine = StubEngine.from_corpus(corpus, seed=seed, profile=profile, fallbacks=fallbacks,
                                    miss=policy, simulator=simulator, live=live, index=index)
    return engine, engine.describe(), live


def upstream_map(cfg: ServeConfig, catalog: Catalog) -> dict[str | None, str]:
    """Each route's real upstream: `--upstream` when given, else the recorded one."""
    out = {name: info.upstream for name, info in catalog.routes.items() if info.upstream}
    for spec in cfg.upstreams:
        name, url = split_named(spec, "--upstream")
        out[name] = url
    return out

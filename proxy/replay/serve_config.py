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
from runtime.model_client import ModelClient
from stubs.api import ToolAnswerer

LEGACY_MISS: dict[str, tuple[str, ...]] = {
    "synthesize": ("nearest", "synthesize"),
    "simulate": ("nearest", "simulate"),
}
"""Older `--miss` spellings that named fallbacks: `--miss synthesize` is `--fallbacks
nearest,synthesize --miss error`."""
MISS_POLICIES = ("error", "continue", "forward", *LEGACY_MISS)
"""Every `--miss` value serve takes (`stubs.miss_policy` says what each means)."""
ROUTE_MODES = {"replay": Mode.REPLAY, "record": Mode.RECORD, "forward": Mode.PASSTHROUGH}
"""`--route NAME=MODE` → the gateway mode of the route."""


def check_miss(miss: str) -> None:
    """Refuse an unknown `--miss` policy."""
    if miss not in MISS_POLICIES:
        raise ServeConfigError(f"--miss {miss!r} is not one of {', '.join(MISS_POLICIES[:3])}; "
                               "error answers with the tool's own error and counts the miss "
                               "as a failure, continue does not, forward calls the real tool.")


def miss_policy(miss: str, fallbacks: tuple[str, ...] | None) -> tuple[tuple[str, ...], str]:
    """`--miss` and `--fallbacks` → (the fallbacks, the policy: error | continue | forward);
    one meaning with `deploysim replay` (`stubs.miss_policy`)."""
    from stubs.miss_policy import default_fallbacks, parse_fallbacks

    check_miss(miss)
    if miss in LEGACY_MISS:
        if fallbacks is not None:
            raise ServeConfigError(f"--miss {miss} is the older spelling of --fallbacks "
                                   f"{','.join(LEGACY_MISS[miss])}; give --fallbacks alone.")
        return LEGACY_MISS[miss], "error"
    return (default_fallbacks(miss) if fallbacks is None else parse_fallbacks(fallbacks)), miss


@dataclass
class ServeConfig:
    """Everything a serve run needs (what the CLI options become)."""

    corpus: list[str]
    listen: tuple[str, int] = ("127.0.0.1", 8788)
    profile: str = "none"
    seed: int = 0
    miss: str = "error"
    """error | continue | forward (`stubs.miss_policy`), or an older spelling (`LEGACY_MISS`)."""
    fallbacks: tuple[str, ...] | None = None
    """Fallback layers, in order, before the miss policy (None: `stubs.miss_policy`'s default, or
    what an older `--miss` spelling names)."""
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


_ENDPOINTS = ("/chat/completions", "/completions", "/responses", "/messages", "/embeddings")


def check_candidate(spec: str) -> tuple[str | None, str]:
    """`[NAME=]URL` of a `--candidate` → (route name, URL). The base URL may be given with or
    without the API's version path (`http://host:8000` or `http://host:8000/v1`: the request
    paths are joined without repeating it, `llm_handler.candidate_path`); an endpoint URL or
    anything that is not http(s) is refused at start."""
    from urllib.parse import urlsplit

    name, url = split_named(spec, "--candidate")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServeConfigError(f"--candidate {spec!r} is not an http(s) URL; give the model "
                               "server's base URL, e.g. --candidate http://127.0.0.1:8000/v1.")
    if parts.query or parts.fragment or parts.path.rstrip("/").endswith(_ENDPOINTS):
        raise ServeConfigError(f"--candidate {spec!r} names an endpoint, not a base URL; give "
                               "the base URL the agent's SDK would take, e.g. "
                               f"{parts.scheme}://{parts.netloc}/v1.")
    return name, url


def run_id_of(identity: dict[str, Any]) -> str:
    """A stable run id: the hash of what makes the run (never its time or ports)."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return "serve-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_stubs(corpus: Corpus, catalog: Catalog, *, seed: int, profile: str, miss: str,
               simulator: ModelClient | None = None, index: str | None = None,
               upstreams: dict[str | None, str] | None = None,
               fallbacks: tuple[str, ...] | None = None
               ) -> tuple[ToolAnswerer, dict[str, Any], Any]:
    """The stub engine for `--miss` and `--fallbacks`: (answerer, its description, the live
    tools it forwards misses to, or None)."""
    from stubs.engine import StubEngine
    from stubs.miss_policy import engine_miss

    layers, policy = miss_policy(miss, fallbacks)
    if "simulate" in layers and simulator is None:
        raise ServeConfigError("The simulate fallback needs a model to play the tools; give "
                               "--tool-simulator MODEL@URL, or leave simulate out of "
                               "--fallbacks.")
    live = None
    if policy == "forward":
        from proxy.replay.live_tools import LiveTools

        live = LiveTools(upstreams or {}, catalog.mcp_servers)
    engine = StubEngine.from_corpus(corpus, seed=seed, profile=profile, fallbacks=layers,
                                    miss=engine_miss(policy), simulator=simulator, live=live,
                                    index=index)
    # the manifest says what the user asked (`continue` is the engine's `error` plus no
    # failure), so a run's stubs name the policy in force
    return engine, {**engine.describe(), "miss": policy}, live


def upstream_map(cfg: ServeConfig, catalog: Catalog) -> dict[str | None, str]:
    """Each route's real upstream: `--upstream` when given, else the recorded one."""
    out = {name: info.upstream for name, info in catalog.routes.items() if info.upstream}
    for spec in cfg.upstreams:
        name, url = split_named(spec, "--upstream")
        out[name] = url
    return out

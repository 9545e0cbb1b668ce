"""What a corpus says about the routes `deploysim serve` stands in for, read in one pass.

For every route the traffic was recorded under (`None` for the unnamed upstream at `/`):
its kind (llm, mcp or http, from the protocols seen), the upstream it went to, and what
replay needs beyond the stub index — the MCP servers' self-descriptions
(`recorder.extract_tool_calls.extract_mcp_servers`), their replies to requests other than tools/call
(resources, prompts, ...), the HTTP tool names, and (when LLM routes are answered from
recordings) the recorded LLM exchanges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from proxy.replay.mcp_recorded import McpRecorded
from recorder.corpus import Corpus
from recorder.exchange import Exchange
from recorder.protocols import detect_protocol, parse_exchange
from recorder.protocols.http_tool import UPSTREAM_PATH_LABEL
from recorder.recorded_tool_call import McpServerRecord

RouteKind = Literal["llm", "mcp", "http"]
LLM_PROTOCOLS = ("openai_chat", "openai_responses", "anthropic_messages", "gemini")


@dataclass
class RouteInfo:
    """One recorded route."""

    name: str | None
    kind: RouteKind
    exchanges: int = 0
    upstream: str | None = None
    """The upstream base URL it was recorded against (best reading of the recorded URLs)."""


@dataclass
class Catalog:
    """The routes of a corpus and what replaying them needs (see the module docstring)."""

    routes: dict[str | None, RouteInfo] = field(default_factory=dict)
    mcp_servers: dict[str | None, McpServerRecord] = field(default_factory=dict)
    mcp_replies: dict[str | None, McpRecorded] = field(default_factory=dict)
    """Route → what its MCP server answered to everything but tool calls, and its tool errors."""
    http_names: dict[str | None, set[str]] = field(default_factory=dict)
    llm_exchanges: list[Exchange] = field(default_factory=list)

    @classmethod
    def scan(cls, corpus: Corpus, *,
             keep_llm: Callable[[str | None], bool] = lambda route: True) -> Catalog:
        """Read every exchange of `corpus` once; LLM exchanges are kept (in memory) only for
        the routes `keep_llm` says will be answered from recordings."""
        from recorder.extract_tool_calls import extract_mcp_servers

        cat = cls()
        kinds: dict[str | None, Counter[str]] = {}
        urls: dict[str | None, Counter[str]] = {}
        mcp: list[Exchange] = []
        for ex in corpus.exchanges():
            protocol = detect_protocol(ex)
            kinds.setdefault(ex.route, Counter())[protocol] += 1
            urls.setdefault(ex.route, Counter())[_base_of(ex, protocol)] += 1
            if protocol == "mcp":
                mcp.append(ex)
                cat._mcp_replies(ex)
            elif protocol == "http_tool":
                parsed = parse_exchange(ex)
                if parsed.http is not None:
                    cat.http_names.setdefault(ex.route, set()).add(parsed.http.name)
            elif protocol in LLM_PROTOCOLS and keep_llm(ex.route):
                cat.llm_exchanges.append(ex)
        for route, seen in kinds.items():
            kind: RouteKind = ("mcp" if seen["mcp"] else
                               "llm" if any(seen[p] for p in LLM_PROTOCOLS) else "http")
            if kind == "http" and not seen["http_tool"]:
                continue  # only unrecognised traffic: nothing a stub could answer
            upstream = urls[route].most_common(1)[0][0] if urls.get(route) else None
            cat.routes[route] = RouteInfo(route, kind, sum(seen.values()), upstream)
        cat.mcp_servers = dict(extract_mcp_servers(mcp))
        return cat

    def _mcp_replies(self, ex: Exchange) -> None:
        parsed = parse_exchange(ex)
        if parsed.mcp is None:
            return
        for call in parsed.mcp.calls:
            method = call.request.method or ""
            reply = call.reply
            if method in ("initialize", "server/discover") or reply is None:
                continue
            value = {"result": reply.result} if reply.kind == "result" else {"error": reply.error}
            recorded = self.mcp_replies.setdefault(ex.route, McpRecorded())
            if method != "tools/call":
                recorded.add(method, call.request.params, value)
                continue
            params = call.request.params
            name = params.get("name") if isinstance(params, dict) else None
            failed = reply.kind != "result" or (isinstance(reply.result, dict)
                                                and reply.result.get("isError") is True)
            if isinstance(name, str) and failed:
                recorded.add_tool_error(name, value)

    def describe(self) -> list[dict[str, Any]]:
        """The routes for the banner, health and manifest."""
        return [{"route": r.name, "kind": r.kind, "exchanges": r.exchanges,
                 "upstream": r.upstream} for r in self.routes.values()]


def _base_of(ex: Exchange, protocol: str) -> str:
    """The upstream base URL an exchange's URL implies: the whole URL for MCP (clients post
    to the endpoint itself), scheme and host for LLM APIs (their paths are the API's), plus
    the recorded base path for HTTP tools when the recorder labelled it."""
    parts = urlsplit(ex.request.url)
    root = f"{parts.scheme}://{parts.netloc}"
    if protocol == "mcp":
        return root + parts.path
    if protocol == "http_tool":
        return root + ex.labels.get(UPSTREAM_PATH_LABEL, "").rstrip("/")
    return root

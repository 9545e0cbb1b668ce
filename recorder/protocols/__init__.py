"""Protocol parsers: one raw exchange → provider-neutral structures, never an exception.

    >>> parsed = parse_exchange(exchange)        # doctest: +SKIP
    >>> parsed.protocol, parsed.llm, parsed.problems

Which parser runs is decided from the URL path and the body shape (`detect_protocol`):
`.../chat/completions` → OpenAI Chat; `POST .../responses` → OpenAI Responses;
`POST .../messages` → Anthropic Messages; `POST ...:generateContent` or
`...:streamGenerateContent` → Gemini; stdio, MCP headers or a JSON-RPC body → MCP;
anything else under a named route → a generic HTTP tool; the rest is `other` (kept raw).
"""

from __future__ import annotations

from recorder.exchange import Exchange
from recorder.protocols import http_tool, llm_exchange, mcp
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of, header_value
from recorder.protocols.parsed import (
    HttpToolCall,
    LlmCall,
    McpCall,
    McpMessage,
    McpTraffic,
    Parsed,
    Protocol,
)

__all__ = [
    "HttpToolCall",
    "LlmCall",
    "McpCall",
    "McpMessage",
    "McpTraffic",
    "Parsed",
    "Protocol",
    "detect_protocol",
    "parse_exchange",
    "with_parse_problems",
]

_MCP_HEADERS = ("mcp-session-id", "mcp-protocol-version", "mcp-method")


def _jsonrpc_body(ex: Exchange) -> bool:
    body = ex.request.body
    try:
        body = decode_body(body, encodings_of(ex.request.headers))
    except BodyDecodeError:
        return False
    head = body[:4096].lstrip()
    return head[:1] in (b"{", b"[") and b'"jsonrpc"' in head


def _path(url: str) -> str:
    """The path of a URL without its query (cheaper than urlsplit, called per exchange)."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else "/"
    return path.split("?", 1)[0].split("#", 1)[0].rstrip("/")


def detect_protocol(ex: Exchange) -> Protocol:
    """Which protocol an exchange speaks, from its transport, URL path, headers and body."""
    if ex.transport == "stdio":
        return "mcp"
    path = _path(ex.request.url)
    method = ex.request.method.upper()
    if path.endswith("/chat/completions"):
        return "openai_chat"
    if method == "POST" and path.endswith("/responses"):
        return "openai_responses"
    if method == "POST" and path.endswith("/messages"):
        return "anthropic_messages"
    if method == "POST" and path.endswith((":generateContent", ":streamGenerateContent")):
        return "gemini"
    if any(header_value(ex.request.headers, h) is not None for h in _MCP_HEADERS):
        return "mcp"
    if method == "POST" and _jsonrpc_body(ex):
        return "mcp"
    if ex.route is not None:
        return "http_tool"
    return "other"


def parse_exchange(ex: Exchange) -> Parsed:
    """Parse one exchange. Never raises: whatever cannot be understood is in `problems`."""
    try:
        protocol = detect_protocol(ex)
        if protocol == "mcp":
            return mcp.parse(ex)
        if protocol == "http_tool":
            return http_tool.parse(ex)
        if protocol == "other":
            return Parsed(ex.id, "other")
        return llm_exchange.parse(ex, protocol)
    except Exception as exc:  # a parser bug must not stop a whole corpus: keep it raw, say so
        return Parsed(ex.id, "other", [f"internal parser error ({type(exc).__name__}: {exc}); "
                                       "the exchange is kept raw"])


def with_parse_problems(ex: Exchange) -> Exchange:
    """The exchange with the problems its parse finds attached (raw bytes untouched), so
    `deploysim inspect` counts them; recorders call this before writing an exchange."""
    found = [p for p in parse_exchange(ex).problems if p not in ex.problems]
    return ex.model_copy(update={"problems": [*ex.problems, *found]}) if found else ex

"""Operators that make the tool fail: error, rate_limit, permission_denied.

Each failure looks the way it does on its transport: a function tool returns an error result,
an MCP tool a CallToolResult with `isError` ("Error executing tool NAME: ...", as the MCP server
SDK words it) or, with `mode = "jsonrpc"`, a JSON-RPC error; an HTTP tool a status code with a
JSON error body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stubs.perturb.registry import Effect, PerturbContext, operator
from stubs.reply import Reply, error_reply


def fail(ctx: PerturbContext, message: str, *, status: int, mode: str = "tool",
         jsonrpc_code: int = -32603, headers: tuple[tuple[str, str], ...] = (),
         data: dict[str, Any] | None = None) -> Reply:
    """A failure of this call's tool, shaped for its transport."""
    if ctx.kind == "mcp" and mode == "jsonrpc":
        return error_reply("mcp", message, jsonrpc_code=jsonrpc_code, data=data)
    if ctx.kind == "mcp":
        return error_reply("mcp", f"Error executing tool {ctx.name}: {message}")
    if ctx.kind == "http":
        return error_reply("http", message, status=status, headers=headers, data=data)
    return error_reply("function", f"Error: {message}")


@operator("error", stage="replace",
          params={"message": "internal server error", "statuses": [500, 502, 503],
                  "mode": "tool"},
          choices={"mode": ("tool", "jsonrpc")})
def error(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect:
    """The tool fails: a tool error, an HTTP 5xx, or (mode = "jsonrpc") a JSON-RPC error."""
    status = int(ctx.rng("error").choice(list(params["statuses"]) or [500]))
    return Effect(fail(ctx, str(params["message"]), status=status, mode=str(params["mode"])),
                  notes={"status": status})


@operator("rate_limit", stage="replace",
          params={"retry_after_s": [1, 5, 30], "mode": "tool"},
          choices={"mode": ("tool", "jsonrpc")})
def rate_limit(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect:
    """The tool refuses with a rate limit: HTTP 429 with Retry-After, or a tool error saying
    when to retry."""
    wait = ctx.rng("rate_limit").choice(list(params["retry_after_s"]) or [1])
    message = f"rate limit exceeded; retry after {wait} seconds"
    return Effect(fail(ctx, message, status=429, mode=str(params["mode"]), jsonrpc_code=-32000,
                       headers=(("retry-after", str(wait)),), data={"retry_after": wait}),
                  notes={"retry_after_s": wait})


@operator("permission_denied", stage="replace",
          params={"message": "permission denied: the credentials in use may not call this "
                             "tool", "mode": "tool"},
          choices={"mode": ("tool", "jsonrpc")})
def permission_denied(ctx: PerturbContext, reply: Reply,
                      params: Mapping[str, Any]) -> Effect:
    """The tool refuses the caller: HTTP 403, or a permission error."""
    return Effect(fail(ctx, str(params["message"]), status=403, mode=str(params["mode"]),
                       jsonrpc_code=-32001))

"""How an MCP server says a tool does not exist, learned from its recording, for calls of tools
it never listed.

The stub engine answers every miss with the tool's own error (`stubs.miss_reply`: the tool's
recorded generic error, else the `mcp` SDK's `Error executing tool NAME` or `Unknown tool:
NAME`). Only the transport knows which tools the server listed and how it answered a name it
did not have: a JSON-RPC error (`-32602 Unknown tool: NAME`, as mcp-server-time says) or an
`isError` result (`MCP error -32602: Tool NAME not found`, as the TypeScript SDK's servers say).
When the recording holds such an answer, a call of another unlisted tool gets it, its name put
in; otherwise the stub engine's answer stands.

>>> errors = {"nope": {"error": {"code": -32602, "message": "Unknown tool: nope"}}}
>>> unknown_tool_reply("delete_all", errors=errors, listed={"get_time"})
{'error': {'code': -32602, 'message': 'Unknown tool: delete_all'}}
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from proxy.replay.mcp_recorded import Reply, substitute


def unknown_tool_reply(name: str, *, errors: Mapping[str, Reply],
                       listed: Collection[str]) -> Reply | None:
    """The server's own answer to a call of `name`, a tool it did not list, or None when the
    recording never shows one (`errors`: its recorded tool errors by tool name; `listed`: the
    tools it listed, empty when tools/list was not recorded)."""
    if not listed or name in listed:
        return None
    for other, reply in errors.items():
        if other not in listed and other != name:
            return substitute(reply, [(other, name)])
    return None

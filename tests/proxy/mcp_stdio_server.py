"""An MCP stdio server built with the `mcp` SDK's own server API (run as a script)."""

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("notes")


@server.tool()
def add_note(text: str) -> str:
    """Store a note."""
    return f"stored: {text}"


@server.tool()
def fail_note(text: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot store {text}")


if __name__ == "__main__":
    server.run("stdio")

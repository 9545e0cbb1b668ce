"""The demo's real tool servers: an MCP server built with the `mcp` SDK and a REST CRM (aiohttp).

Both bind to 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any

from aiohttp import web

from deploysim.demo import workspace
from deploysim.demo.record_process import free_port


def mcp_server() -> Any:
    """The workspace MCP server (file system, shell, docs search)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("demo-workspace", instructions="Tools over the shop-api workspace "
                       "(a deploysim simulation).", version="1.0", log_level="ERROR")

    def guarded(fn: Any, *args: Any) -> str:
        # Expected failures (missing file, unknown command) are tool errors, not crashes.
        try:
            result: str = fn(*args)
        except (OSError, ValueError) as exc:
            raise ToolError(str(exc)) from exc
        return result

    # async tools: the SDK runs sync tools in worker threads, a needless hop for pure functions
    @server.tool()
    async def list_files(path: str = ".") -> str:
        """List the files under a directory of the workspace."""
        return guarded(workspace.list_files, path)

    @server.tool()
    async def read_file(path: str) -> str:
        """Read a file of the workspace."""
        return guarded(workspace.read_file, path)

    @server.tool()
    async def write_file(path: str, content: str) -> str:
        """Write a file in the workspace."""
        return guarded(workspace.write_file, path, content)

    @server.tool()
    async def run_shell(command: str) -> str:
        """Run a shell command in the workspace sandbox."""
        return guarded(workspace.run_shell, command)

    @server.tool()
    async def search_docs(query: str) -> str:
        """Search the team's internal documentation."""
        return guarded(workspace.search_docs, query)

    return server


class McpHttpServer:
    """The MCP server over streamable HTTP, run by uvicorn inside this event loop."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def start(self) -> str:
        import uvicorn

        app = mcp_server().streamable_http_app(json_response=True, stateless_http=True)
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="demo-mcp-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)


CUSTOMERS = {
    "C-1042": ("Ada Lovelace", "ada.lovelace@example.com", "gold"),
    "C-2001": ("Grace Hopper", "grace.hopper@example.com", "silver"),
    "C-3107": ("Alan Turing", "alan.turing@example.com", "bronze"),
    "C-4410": ("Katherine Johnson", "k.johnson@example.com", "gold"),
}


def crm_app() -> web.Application:
    """The REST CRM tool: customers, orders, refunds."""

    async def customer(request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid not in CUSTOMERS:
            return web.json_response({"error": f"customer {cid} not found"}, status=404)
        name, email, tier = CUSTOMERS[cid]
        return web.json_response({"id": cid, "name": name, "email": email, "tier": tier,
                                  "phone": "+1 415 555 0100",
                                  "notes": "Prefers email contact. Loyal since 2019."})

    async def orders(request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        n = int(hashlib.sha256(cid.encode()).hexdigest()[:2], 16) % 3 + 1
        return web.json_response({"customer": cid, "orders": [
            {"id": f"O-{70 + i}", "total": 19.9 * (i + 1), "status": ["shipped", "delivered",
                                                                      "processing"][i % 3]}
            for i in range(n)]})

    async def refund(request: web.Request) -> web.Response:
        body = await request.json()
        amount = float(body.get("amount", 0))
        if amount > 200:
            return web.json_response({"error": "refunds over $200 need a manager"}, status=403)
        rid = hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()[:8]
        return web.json_response({"refund_id": f"R-{rid}", "status": "issued",
                                  "order_id": body.get("order_id"), "amount": amount})

    app = web.Application()
    app.router.add_get("/customers/{cid}", customer)
    app.router.add_get("/customers/{cid}/orders", orders)
    app.router.add_post("/refunds", refund)
    return app


class CrmServer:
    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        self._runner = web.AppRunner(crm_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

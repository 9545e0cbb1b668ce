"""Factories for tests and benchmarks of the replay proxy: real tool servers and a recorded
corpus made by recording real traffic through the recording gateway.

    weather_server()          an `mcp` SDK `MCPServer` (get_weather, forecast, alert)
    sunny_server()            the smallest one (get_weather only)
    McpHttpServer             one, over streamable HTTP (uvicorn on 127.0.0.1:0), optionally
                              refusing a foreign Host and wrapped in an ASGI tap
    crm_app()                 an aiohttp REST tool (customers, refunds)
    record_corpus(out, ...)   both generations of the official `mcp` client, an HTTP client
                              and (optionally) an agent loop on a model, through
                              `deploysim record`'s gateway into `out`

Needs the dev dependencies (`mcp`, `uvicorn`, `httpx2`, `openai`); imported only by tests and
`bench/serve.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from proxy.testing import serving
from runtime.tasks import spawn

CITIES = ("Paris", "Oslo", "Rome")
RECORDED_SESSION = "rec-1"
"""The session header value the recorded agent loop used."""


def weather_server() -> Any:
    """A small real MCP server built with the `mcp` SDK's own server API."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("weather", instructions="Weather tools for the deploysim tests.",
                       version="1.2")

    @server.tool()
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        if city == "Atlantis":
            raise ValueError("no such city")
        return f"Sunny in {city}, 21 C"

    @server.tool()
    async def forecast(city: str, days: int = 3) -> dict[str, Any]:
        """Forecast for the next days."""
        return {"city": city, "days": [{"day": i, "high": 20 + i} for i in range(days)]}

    @server.tool()
    async def alert(region: str) -> str:
        """Weather alerts for a region."""
        return f"No alerts for {region}."

    return server


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


class McpHttpServer:
    """An `MCPServer` over streamable HTTP, run by uvicorn on this event loop.

    `own_host_only`: the server refuses any Host but its own, as the `mcp` SDK does by default
    for a server that names its address (what a proxy must cope with: it forwards the
    upstream's Host, never its own). `wrap`: an ASGI middleware around the app (a tap that
    counts or logs requests)."""

    def __init__(self, server: Any = None, *, own_host_only: bool = False,
                 wrap: Callable[[Any], Any] | None = None) -> None:
        self.server = server if server is not None else weather_server()
        self.own_host_only = own_host_only
        self.wrap = wrap
        self._uv: Any = None
        self._task: asyncio.Task[Any] | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def __aenter__(self) -> McpHttpServer:
        import uvicorn

        self._sock = _free_socket()
        self.port = self._sock.getsockname()[1]
        if self.own_host_only:
            from mcp.server.transport_security import TransportSecuritySettings

            host = f"127.0.0.1:{self.port}"
            app = self.server.streamable_http_app(transport_security=TransportSecuritySettings(
                enable_dns_rebinding_protection=True, allowed_hosts=[host],
                allowed_origins=[f"http://{host}"]))
        else:
            app = self.server.streamable_http_app()
        if self.wrap is not None:
            app = self.wrap(app)
        self._uv = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
        self._task = spawn(self._uv.serve(sockets=[self._sock]), name="test-mcp-server")
        while not self._uv.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._uv.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        if self._sock is not None:
            self._sock.close()


def sunny_server() -> Any:
    """The smallest real MCP server: one tool, `get_weather(city)` → `sunny in CITY`."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("weather")

    @server.tool()
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    return server


CUSTOMERS = {"C-1": {"id": "C-1", "name": "Ada", "tier": "gold"},
             "C-2": {"id": "C-2", "name": "Grace", "tier": "silver"}}


def crm_app() -> web.Application:
    """A REST tool: GET /customers/{cid} (404 when unknown), POST /refunds."""

    async def customer(request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid not in CUSTOMERS:
            return web.json_response({"error": f"customer {cid} not found"}, status=404)
        return web.json_response(CUSTOMERS[cid], headers={"X-Crm-Version": "7"})

    async def refund(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"refund": "R-1", "order": body.get("order"),
                                  "amount": body.get("amount"), "status": "issued"})

    app = web.Application()
    app.router.add_get("/customers/{cid}", customer)
    app.router.add_post("/refunds", refund)
    return app


@dataclass
class Recorded:
    """What `record_corpus` recorded (the folder, and what the clients saw, for comparison)."""

    out: str
    mcp_results: dict[str, Any] = field(default_factory=dict)
    """`TOOL ARGS-JSON` → the CallToolResult the real server gave (model_dump by alias)."""
    http_bodies: dict[str, bytes] = field(default_factory=dict)
    """`METHOD /path` → the body the real HTTP tool gave."""


def _key(name: str, args: dict[str, Any]) -> str:
    return f"{name} {json.dumps(args, sort_keys=True)}"


async def record_corpus(out: str, *, model_url: str | None = None, isolation: str = "thread",
                        ) -> Recorded:
    """Record a small corpus into `out` through the recording gateway (routes `weather`
    (MCP), `crm` (HTTP) and, with `model_url`, the unnamed LLM route)."""
    import httpx2
    from mcp import Client

    from proxy.gateway import Gateway
    from proxy.metrics import Metrics
    from proxy.routes import parse_upstream
    from proxy.sink import RecordingSink

    rec = Recorded(out)
    async with McpHttpServer() as mcp_server, serving(crm_app()) as crm:
        upstreams = [f"weather={mcp_server.url}", f"crm={crm}"]
        if model_url is not None:
            upstreams.append(model_url)
        metrics = Metrics()
        sink = RecordingSink(out, metrics=metrics, isolation=isolation)  # type: ignore[arg-type]
        sink.start()
        gw = Gateway([parse_upstream(u) for u in upstreams], sink, metrics=metrics)
        url = await gw.start("127.0.0.1", 0)
        try:
            calls: list[tuple[str, dict[str, Any]]] = [("get_weather", {"city": c})
                                                      for c in CITIES]
            calls += [("forecast", {"city": "Oslo", "days": 2}),
                      ("get_weather", {"city": "Atlantis"}), ("alert", {"region": "north"})]
            for mode in ("legacy", "auto"):
                async with Client(url + "/weather", mode=mode) as client:
                    await client.list_tools()
                    for name, args in calls:
                        result = await client.call_tool(name, args)
                        rec.mcp_results[_key(name, args)] = result.model_dump(
                            by_alias=True, exclude_none=True, exclude={"meta"})
            async with httpx2.AsyncClient(base_url=url + "/crm") as http:
                for path in ("/customers/C-1", "/customers/C-2", "/customers/C-9"):
                    r = await http.get(path)
                    rec.http_bodies[f"GET {path}"] = r.content
                r = await http.post("/refunds", json={"order": "O-1", "amount": 12.5})
                rec.http_bodies["POST /refunds"] = r.content
            if model_url is not None:
                await weather_agent(url)
        finally:
            await gw.stop()
            await sink.aclose()
    return rec


async def weather_agent(url: str, *, session: str | None = RECORDED_SESSION,
                        question: str = "Weather in Paris and Oslo?") -> list[Any]:
    """A hand-written agent: the `openai` SDK (chat completions, every other step streamed)
    and the `mcp` client, tagged with a session header; returns its conversation."""
    from mcp import Client
    from openai import AsyncOpenAI

    headers = {"X-Deploysim-Session": session} if session else {}
    llm = AsyncOpenAI(base_url=url + "/v1", api_key="sk-test-0123456789abcdefghij",
                      default_headers=headers, max_retries=0)
    messages: list[Any] = [{"role": "system", "content": "You are a weather agent."},
                           {"role": "user", "content": question}]
    async with Client(url + "/weather", mode="legacy") as mcp:
        listed = await mcp.list_tools()
        tools: list[Any] = [{"type": "function", "function": {
            "name": t.name, "description": t.description or "", "parameters": t.input_schema}}
            for t in listed.tools]
        for step in range(4):
            completion: Any
            if step % 2:
                async with llm.chat.completions.stream(model="sim-deployed", messages=messages,
                                                       tools=tools) as stream:
                    async for _event in stream:
                        pass
                    completion = await stream.get_final_completion()
            else:
                completion = await llm.chat.completions.create(model="sim-deployed",
                                                               messages=messages, tools=tools)
            msg = completion.choices[0].message
            messages.append(msg.model_dump(exclude_none=True, exclude={"parsed"}))
            if not msg.tool_calls:
                break
            call: Any
            for call in msg.tool_calls:
                result = await mcp.call_tool(call.function.name,
                                             json.loads(call.function.arguments or "{}"))
                text = "\n".join(getattr(c, "text", "") for c in result.content)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
    await llm.close()
    return messages


def weather_policy() -> Any:
    """A scripted model for the weather tools: get_weather(Paris), then forecast(Oslo), then a
    text answer quoting what the tools said. Decided from the conversation, so it answers the
    same way every run."""
    from replayer.testing.script import ScriptedReply, ScriptedRequest

    def policy(request: ScriptedRequest) -> ScriptedReply:
        results = [m for m in request.messages if m.role == "tool"]
        if not results:
            return ScriptedReply.call("get_weather", {"city": "Paris"})
        if len(results) == 1:
            return ScriptedReply.call("forecast", {"city": "Oslo", "days": 2})
        return ScriptedReply(text="Report: " + " | ".join(m.text for m in results))

    return policy


def recorded_corpus(base_dir: str) -> Recorded:
    """`record_corpus` with an agent loop on a scripted model, made once per `base_dir` (a
    test session's temp dir) and reused: recording real servers costs seconds."""
    import os

    out = os.path.join(base_dir, "replay-corpus")
    marker = os.path.join(out, "recorded.json")
    if os.path.exists(marker):
        with open(marker) as f:
            doc = json.load(f)
        return Recorded(out, doc["mcp"], {k: v.encode() for k, v in doc["http"].items()})

    async def make() -> Recorded:
        from replayer.testing.fake_model import FakeModelServer

        async with FakeModelServer(weather_policy()) as fake:
            return await record_corpus(out, model_url=fake.url)

    rec = asyncio.run(make())
    with open(marker, "w") as f:
        json.dump({"mcp": rec.mcp_results,
                   "http": {k: v.decode() for k, v in rec.http_bodies.items()}}, f)
    return rec

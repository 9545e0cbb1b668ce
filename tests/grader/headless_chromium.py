"""Load a page in headless Chromium through the DevTools protocol: collect console errors,
exceptions and every network request, evaluate expressions (awaiting the promises they
return, in order: set a filter, click, then read the page), take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium",
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p and os.path.exists(p)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]


async def load_page(url: str, profile_dir: Path, screenshot: Path, expressions: dict[str, str],
                    width: int = 1280, height: int = 2000) -> PageLoad:
    """Open `url`, wait for load, evaluate `expressions` (name -> JS), save a PNG screenshot."""
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}", "--remote-debugging-port=0",
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        port_file = profile_dir / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws:
            return await _drive(ws, url, screenshot, expressions, width, height)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def _drive(ws: aiohttp.ClientWebSocketResponse, url: str, screenshot: Path,
                 expressions: dict[str, str], width: int, height: int) -> PageLoad:
    ids = itertools.count(1)
    result = PageLoad()
    pending: dict[int, asyncio.Future[Any]] = {}
    loaded = asyncio.Event()

    async def reader() -> None:
        async for msg in ws:
            data = msg.json()
            if "id" in data and data["id"] in pending:
                pending.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                              "assert"):
                result.console_errors.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                result.console_errors.append(params["entry"].get("text", ""))
            elif method == "Runtime.exceptionThrown":
                result.exceptions.append(str(params.get("exceptionDetails")))
            elif method == "Network.requestWillBeSent":
                result.requests.append(params["request"]["url"])
            elif method == "Page.loadEventFired":
                loaded.set()

    async def call(method: str, session: str | None = None, **params: Any) -> Any:
        i = next(ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending[i] = fut
        msg: dict[str, Any] = {"id": i, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await ws.send_json(msg)
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, reply
        return reply.get("result", {})

    task = asyncio.create_task(reader(), name="cdp-reader")
    try:
        target = (await call("Target.createTarget", url="about:blank"))["targetId"]
        sid = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            await call(f"{domain}.enable", sid)
        await call("Emulation.setDeviceMetricsOverride", sid, width=width, height=height,
                   deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", sid, url=url)
        await asyncio.wait_for(loaded.wait(), 30)
        await asyncio.sleep(0.3)  # let late console messages arrive
        for name, expr in expressions.items():
            # a promise is awaited, so an expression can wait for a page that renders late
            # or set a filter and wait for the rows it leaves
            r = await call("Runtime.evaluate", sid, expression=expr, returnByValue=True,
                           awaitPromise=True)
            result.values[name] = r["result"].get("value")
        shot = await call("Page.captureScreenshot", sid, format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        await ws.send_json({"id": next(ids), "method": "Browser.close"})  # no reply awaited
    finally:
        task.cancel()
    return result

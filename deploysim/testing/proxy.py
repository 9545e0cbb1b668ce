"""The proxy a test's agent talks to: `deploysim record`'s gateway in front of the real
upstreams, or `deploysim serve`'s replay server answering from the cassette, run on an event
loop of its own in a background thread so sync and async tests alike can use it.

>>> with CassetteProxy(spec, record=False) as proxy:          # doctest: +SKIP
...     client = OpenAI(base_url=proxy.openai_base_url, api_key="sk-test")
...     mcp_url = proxy.route("weather")
...     ...
...     proxy.miss_report()        # None, or what the agent asked that the cassette lacks
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Coroutine
from typing import Any

from deploysim.testing.spec import CassetteSpec, MarkerError

START_TIMEOUT = 60.0
"""Seconds to wait for the proxy to load the cassette and listen (a large corpus takes a
while to index)."""


class CassetteProxy:
    """One test's proxy; `start()` returns once it listens on 127.0.0.1 at a free port."""

    def __init__(self, spec: CassetteSpec, *, record: bool) -> None:
        self.spec = spec
        self.recording = record
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._gateway: Any = None
        self._sink: Any = None
        # a new recording goes to a folder of its own and replaces the cassette only when the
        # test passed, so a failing first run never leaves half a cassette behind
        self._staging = spec.cassette.rstrip(os.sep) + ".recording"

    # -- what the agent is pointed at -----------------------------------------------------

    @property
    def mode(self) -> str:
        """`record` or `replay`: what this run does."""
        return "record" if self.recording else "replay"

    @property
    def openai_base_url(self) -> str:
        """The `base_url` for an OpenAI-compatible SDK on the unnamed route (`.../v1`)."""
        return self.url + "/v1"

    def route(self, name: str | None = None) -> str:
        """The URL of a route: `route("weather")` → `http://127.0.0.1:PORT/weather`."""
        return self.url if name in (None, "", "/") else f"{self.url}/{name}"

    @property
    def misses(self) -> list[dict[str, Any]]:
        """Every call the cassette did not hold (replay only), with its diagnostics."""
        return list(self._server.log.misses) if self._server is not None else []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> CassetteProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="deploysim-pytest-proxy",
                                        daemon=True)
        self._thread.start()
        try:
            self.url = self._run(self._record() if self.recording else self._replay())
        except BaseException:
            self._shutdown()
            raise
        return self

    def stop(self, *, keep: bool = True) -> None:
        """Stop listening; a recording replaces the cassette when `keep`, else is dropped."""
        try:
            if self._loop is not None:
                self._run(self._close())
        finally:
            self._shutdown()
            if self.recording:
                self._settle(keep)

    def __enter__(self) -> CassetteProxy:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop(keep=exc_type is None)

    # -- internals ------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(START_TIMEOUT)

    async def _record(self) -> str:
        from proxy.gateway import Gateway
        from proxy.metrics import Metrics
        from proxy.routes import parse_upstream
        from proxy.sink import RecordingSink

        if not self.spec.upstreams:
            raise MarkerError(f"Recording {self.spec.cassette} needs the real upstreams; give "
                              "@pytest.mark.deploysim(upstreams={\"/\": MODEL_URL, \"NAME\": "
                              "TOOL_URL}).")
        from recorder.corpus_marker import MARKER_NAME

        shutil.rmtree(self._staging, ignore_errors=True)
        os.makedirs(self._staging)
        marker = os.path.join(self.spec.cassette, MARKER_NAME)
        if os.path.exists(marker):
            # a re-recording keeps the folder's redaction key, so pseudonyms stay the same
            shutil.copy2(marker, self._staging)
        metrics = Metrics()
        # the writer in a thread: a test records a handful of exchanges, and a writer process
        # would cost more to start than the whole recording
        self._sink = RecordingSink(self._staging, metrics=metrics, isolation="thread",
                                   producer="deploysim pytest",
                                   meta={"upstreams": self.spec.upstream_specs()})
        self._sink.start()
        self._gateway = Gateway([parse_upstream(u) for u in self.spec.upstream_specs()],
                                self._sink, metrics=metrics,
                                session_header=self.spec.session_header,
                                name="deploysim pytest")
        url: str = await self._gateway.start("127.0.0.1", 0)
        return url

    async def _replay(self) -> str:
        from proxy.replay.replay_gateway import ReplayServer, ServeConfig

        cfg = ServeConfig(corpus=[self.spec.cassette], listen=("127.0.0.1", 0),
                          profile=self.spec.profile, seed=self.spec.seed, miss=self.spec.miss,
                          fallbacks=self.spec.fallbacks,
                          session_header=self.spec.session_header, isolation="thread")
        self._server = await ReplayServer.load(cfg)
        url: str = await self._server.start("127.0.0.1", 0)
        return url

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._gateway is not None:
            await self._gateway.stop()
        if self._sink is not None:
            await self._sink.aclose()

    def _shutdown(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    def _settle(self, keep: bool) -> None:
        from recorder.writer import SUFFIX

        if not keep or not os.path.isdir(self._staging):
            shutil.rmtree(self._staging, ignore_errors=True)
            return
        os.makedirs(self.spec.cassette, exist_ok=True)
        # only the cassettes are replaced: anything else kept beside them stays
        for name in os.listdir(self.spec.cassette):
            if name.endswith(SUFFIX):
                os.remove(os.path.join(self.spec.cassette, name))
        for name in os.listdir(self._staging):
            os.replace(os.path.join(self._staging, name), os.path.join(self.spec.cassette, name))
        shutil.rmtree(self._staging, ignore_errors=True)

    # -- the miss explanation -------------------------------------------------------------

    def miss_report(self) -> str | None:
        """Why the test must fail: each call the cassette does not hold, the closest
        recorded calls and what differed; None when every call was answered."""
        misses = self.misses
        if not misses:
            return None
        lines = [f"The agent made {len(misses)} call(s) the cassette {self.spec.cassette} "
                 "does not hold; re-record it with --deploysim-record if the agent's "
                 "behaviour changed on purpose."]
        for m in misses:
            lines += explain_miss(m)
        return "\n".join(lines)


def explain_miss(miss: dict[str, Any]) -> list[str]:
    """One miss from the serve log as lines: the call, why it missed, the nearest recordings."""
    diag = miss.get("diagnostics") or {}
    if miss.get("kind") == "llm":
        lines = [f"  {miss.get('tool')}: {diag.get('reason') or 'no recorded response'}"]
    else:
        lines = [f"  {miss.get('tool')} {_json(miss.get('arguments'))} (call "
                 f"{miss.get('call_index')})"]
        if diag.get("reason"):
            lines.append(f"    why: {diag['reason']}")
    closest = diag.get("closest") or []
    if not closest:
        lines.append("    nothing recorded for this tool comes close")
    for near in closest[:3]:
        lines.append(f"    nearest recording: {_json(near.get('arguments'))}"
                     + (f"; differs at {_differences(near['diff'])}" if near.get("diff")
                        else ""))
    return lines


def _differences(diff: Any) -> str:
    """The stub engine's field diff (`[{path, query, recorded}]`) as `$.city (here "Pariss",
    recorded "Paris")`."""
    if not isinstance(diff, list):
        return _json(diff)
    return ", ".join(f"{d.get('path')} (here {_json(d.get('query'))}, recorded "
                     f"{_json(d.get('recorded'))})" if isinstance(d, dict) else _json(d)
                     for d in diff[:5])


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)[:300]

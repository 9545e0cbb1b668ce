"""The tool desk: turns one tool call arriving on any transport into a stub answer.

    transport (MCP HTTP, MCP stdio, HTTP route) ─► ToolDesk.answer(kind, server, name, args,
        binding) ─► call index for (server, trajectory) ─► ToolAnswerer.answer(ToolQuery)
        ─► delay from the profile ─► ServedCall (logged) back to the transport

The transport renders the answer in its own protocol (an MCP result or error, an HTTP reply).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.replay.binding import Binding, CallCounter
from proxy.replay.diagnostics import ServedCall, ServeLog
from recorder.recorded_tool_call import ToolKind
from stubs.api import ToolAnswerer, ToolQuery

Sleep = Callable[[float], Awaitable[Any]]


class ToolDesk:
    """Numbers calls per trajectory, asks the answerer, waits out the answer's delay."""

    def __init__(self, answerer: ToolAnswerer, log: ServeLog, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.answerer = answerer
        self.log = log
        self.counter = CallCounter()
        self._sleep = sleep

    async def answer(self, kind: ToolKind, server: str | None, name: str, arguments: Any,
                     binding: Binding) -> ServedCall:
        """Answer one call; the delay a perturbation asks for has passed when this returns."""
        query = ToolQuery(kind=kind, name=name, arguments=arguments, server=server,
                          session_id=binding.session,
                          call_index=self.counter.take(server, binding),
                          trajectory_id=binding.key)
        answer = await self.answerer.answer(query)
        served = ServedCall(query, binding, answer)
        self.log.tool(served)
        if answer.delay_s > 0:
            await self._sleep(answer.delay_s)
        return served

    def forget(self, key: str) -> None:
        """A trajectory ended (its MCP session was deleted): drop its counters and repeats."""
        self.counter.forget(key)
        self.answerer.forget(key)

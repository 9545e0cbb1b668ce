"""The demo's production agent: an ordinary tool-using loop built on the official SDKs.

It talks to its model with the `openai` SDK, to the workspace tools with the `mcp` client
(streamable HTTP) and to the CRM with plain HTTP, all through whatever URLs it is given: in the
demo, `deploysim record`'s gateway. It tags its traffic with the session and segment headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx2

from deploysim.demo.users import SessionSpec, UserState, next_message

SYSTEM_PROMPT = (
    "You are shop-ops, an operations agent for the shop-api team. You can use workspace tools "
    "(files, shell, docs) and the CRM. Ask before destructive actions, never force-push, never "
    "read secrets, and report tool errors honestly."
)
MAX_STEPS = 6

CRM_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "lookup_customer", "description": "Look up a customer in the CRM.",
        "parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}},
                       "required": ["customer_id"]}}},
    {"type": "function", "function": {
        "name": "list_orders", "description": "List a customer's orders.",
        "parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}},
                       "required": ["customer_id"]}}},
    {"type": "function", "function": {
        "name": "issue_refund", "description": "Refund an order (up to $200).",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                        "amount": {"type": "number"}},
                       "required": ["order_id", "amount"]}}},
]


@dataclass(frozen=True)
class Endpoints:
    """Where the agent's model and tools are (gateway URLs in the demo)."""

    llm_base_url: str
    mcp_url: str
    crm_url: str
    model: str = "sim-deployed"


async def _crm(http: httpx2.AsyncClient, crm_url: str, name: str, args: dict[str, Any]) -> str:
    cid = str(args.get("customer_id", ""))
    if name == "lookup_customer":
        r = await http.get(f"{crm_url}/customers/{cid}")
    elif name == "list_orders":
        r = await http.get(f"{crm_url}/customers/{cid}/orders")
    else:
        r = await http.post(f"{crm_url}/refunds", json=args)
    return r.text


class Agent:
    """The production agent: one model client shared by every session it plays."""

    def __init__(self, ep: Endpoints) -> None:
        import ssl

        from openai import AsyncOpenAI

        self.ep = ep
        # One TLS context for every HTTP client: building one loads the CA bundle (~40 ms).
        self._ssl = ssl.create_default_context()
        self._llm = AsyncOpenAI(base_url=ep.llm_base_url,
                                api_key="sk-proj-demoAgentKey0123456789abcdef", max_retries=2,
                                # minutes, not seconds: a real model on a busy CPU (demo
                                # --real-model) queues calls that long, and a retry only adds
                                http_client=httpx2.AsyncClient(verify=self._ssl, timeout=600))

    async def close(self) -> None:
        await self._llm.close()

    async def run_session(self, spec: SessionSpec) -> list[Any]:
        """Play one simulated user's session end to end; returns the conversation."""
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        ep, llm = self.ep, self._llm
        headers = {"X-Deploysim-Session": spec.id, "X-Deploysim-Segment": spec.segment}
        messages: list[Any] = [{"role": "system", "content": SYSTEM_PROMPT}]
        async with httpx2.AsyncClient(headers=headers, timeout=30, verify=self._ssl) as http, \
                Client(streamable_http_client(ep.mcp_url, http_client=http)) as mcp:
            listed = await mcp.list_tools()
            mcp_names = {t.name for t in listed.tools}
            tools = [{"type": "function", "function": {"name": t.name,
                                                       "description": t.description or "",
                                                       "parameters": t.input_schema}}
                     for t in listed.tools] + CRM_TOOLS
            # the user reacts to each turn (users.next_message): pushes back, retries, stops
            state, k = UserState(), 0
            text: str | None = spec.messages[0]
            while text is not None:
                messages.append({"role": "user", "content": text})
                start = len(messages)
                for step in range(MAX_STEPS):
                    completion: Any = None
                    if (k + step) % 2:  # half the calls stream, like a real mixed fleet
                        completion = await self._streamed(messages, tools, headers)
                    if completion is None:
                        completion = await llm.chat.completions.create(
                            model=ep.model, messages=messages, tools=tools,
                            extra_headers=headers)
                    msg = completion.choices[0].message
                    messages.append(msg.model_dump(exclude_none=True, exclude={"parsed"}))
                    if not msg.tool_calls:
                        # an empty answer (a real model gives them) is kept as "": servers
                        # refuse an assistant message with neither content nor tool calls
                        messages[-1].setdefault("content", "")
                        break
                    for call in msg.tool_calls:
                        content = await self._call_tool(mcp, mcp_names, http, call)
                        messages.append({"role": "tool", "tool_call_id": call.id,
                                         "content": content})
                text, k = next_message(spec, messages[start:], state), k + 1
        return messages

    async def _streamed(self, messages: list[Any], tools: list[Any],
                        headers: dict[str, str]) -> Any:
        """A streamed completion, or None when the stream failed mid-way: the caller asks
        again unstreamed, as agents do. Real servers do this (demo --real-model): llama.cpp
        ends some streamed tool calls with an error event ("Invalid diff ...")."""
        from openai import APIConnectionError, APIError, APIStatusError, LengthFinishReasonError

        try:
            async with self._llm.chat.completions.stream(
                    model=self.ep.model, messages=messages, tools=tools,
                    extra_headers=headers) as stream:
                async for _event in stream:
                    pass
                return await stream.get_final_completion()
        except LengthFinishReasonError as exc:
            # the model ran out of tokens: the SDK's stream helper refuses the answer, an
            # agent keeps it
            return exc.completion
        except (APIStatusError, APIConnectionError):
            raise
        except APIError:  # an error event inside a 200 stream
            return None

    async def _call_tool(self, mcp: Any, mcp_names: set[str], http: httpx2.AsyncClient,
                         call: Any) -> str:
        try:  # a real model (demo --real-model) writes arguments that are not JSON
            args = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError as exc:
            return f"Error: invalid JSON arguments for tool {call.function.name}: {exc}"
        if not isinstance(args, dict):
            return f"Error: the arguments of tool {call.function.name} must be a JSON object"
        if call.function.name not in mcp_names:
            return await _crm(http, self.ep.crm_url, call.function.name, args)
        result = await mcp.call_tool(call.function.name, args)
        content = "\n".join(getattr(c, "text", "") for c in result.content)
        if result.is_error and not content.startswith("Error"):
            content = f"Error: {content}"
        return content

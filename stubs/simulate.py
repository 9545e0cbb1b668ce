"""The `simulate` fallback: a model plays the tool.

A `runtime.model_client.ModelClient` (the CLI passes one from `replayer.clients`; stubs never import
the replayer) is told which tool it plays (description and input schema), shown the recorded
trajectory the call comes from, the calls this trajectory already made with what they returned
(`stubs.history`: the simulator keeps state, so a file written earlier reads back as written),
recorded calls of the tool that resemble this one in meaning (`stubs.family`: the same program,
path family or URL route) with their outputs, and the call; it answers with the tool's output
only. Answers are cached by prompt hash and seed in a
`runtime.response_cache.ResponseCache` (or in memory), so a rerun is identical and free;
concurrent identical prompts share one model call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from recorder.session import ContentPart, Message, Session, ToolDef
from runtime.model_client import ModelClient, answer_text, request_key
from runtime.response_cache import ResponseCache
from stubs.history import HistoryItem

PURPOSE = "deploysim-tool-simulator"
SYSTEM = (
    "You are simulating the tool `{name}` so that a recorded agent session can be replayed. "
    "Reply with exactly the output the real tool would return for the call: no commentary, no "
    "explanation, no code fences. Match the format, style and level of detail of the recorded "
    "outputs. Stay consistent with what earlier calls in this trajectory returned or changed "
    "(files written, records created, time that has passed). If the real tool would fail, "
    "reply with its error output.\n\n"
    "Tool description: {description}\nInput schema: {schema}"
)


def _render_session(session: Session, budget: int) -> str:
    lines = []
    for m in session.messages:
        text = m.text
        if m.tool_calls:
            text += " " + " ".join(f"[calls {c.name}({json.dumps(c.arguments, default=str)})]"
                                   for c in m.tool_calls)
        if m.result is not None:
            text = m.result.content
        lines.append(f"{m.role}: {text.strip()}")
    out = "\n".join(lines)
    return out if len(out) <= budget else "…" + out[-budget:]  # the end matters most


def _render_examples(examples: Sequence[tuple[Any, str]]) -> str:
    return "\n".join(f"- call {json.dumps(a, sort_keys=True, default=str)}\n  output: "
                     f"{out[:1500]}" for a, out in examples)


def _render_history(items: Sequence[HistoryItem], budget: int) -> str:
    """The calls, oldest first; when they do not fit, the oldest are left out (the latest
    state matters most)."""
    lines: list[str] = []
    used = 0
    for item in reversed(items):
        tool = item.name if item.kind == "function" else f"{item.server or ''}/{item.name}"
        line = (f"- `{tool}` {json.dumps(item.arguments, sort_keys=True, default=str)}\n"
                f"  {'error' if item.is_error else 'output'}: {item.output}")
        if lines and used + len(line) > budget:
            break
        lines.append(line)
        used += len(line)
    return "\n".join(reversed(lines))


def _strip_fences(text: str) -> str:
    s = answer_text(text)  # a thinking model's reasoning is not the tool's output
    if s.startswith("```") and s.endswith("```"):
        s = s[3:-3]
        s = s.split("\n", 1)[1] if "\n" in s and not s.lstrip().startswith(("{", "[")) else s
    return s.strip()


class ToolSimulator:
    """Asks a model for a tool's output; cached by prompt and seed."""

    def __init__(self, client: ModelClient, *, seed: int = 0, cache: ResponseCache | None = None,
                 model: str | None = None, context_chars: int = 6000) -> None:
        self.client = client
        self.seed = seed
        self.cache = cache
        self.model = model or str(getattr(client, "model", None) or type(client).__name__)
        self.context_chars = context_chars
        self._memory: dict[str, str] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self.calls = 0

    def prompt(self, *, name: str, arguments: Any, tool: ToolDef | None,
               session: Session | None, examples: Sequence[tuple[Any, str]],
               history: Sequence[HistoryItem] = (),
               others: Sequence[tuple[Any, str]] = ()) -> list[Message]:
        """The conversation sent to the model (a pure function of its inputs): `examples` are
        recorded calls like this one, `others` recorded calls of the tool that are not (shown
        for the format only), `history` this trajectory's earlier calls, oldest first."""
        system = SYSTEM.format(
            name=name, description=(tool.description if tool else "") or "(none recorded)",
            schema=json.dumps(tool.input_schema, sort_keys=True) if tool and tool.input_schema
            else "(none recorded)")
        parts = []
        if session is not None:
            parts.append("The recorded trajectory the call belongs to:\n"
                         + _render_session(session, self.context_chars))
        if history:
            parts.append("Calls this trajectory already made, oldest first, and what they "
                         "returned:\n" + _render_history(history, self.context_chars // 2))
        if examples:
            parts.append(f"Recorded calls of `{name}` like this one and what it returned:\n"
                         + _render_examples(examples))
        if others:
            parts.append(f"Other recorded calls of `{name}` (they do something else; shown for "
                         "the output format only):\n" + _render_examples(others))
        parts.append(f"Now return the output of this call of `{name}`:\n"
                     f"{json.dumps(arguments, sort_keys=True, default=str)}")
        return [Message(role="system", content=[ContentPart(text=system)]),
                Message(role="user", content=[ContentPart(text="\n\n".join(parts))])]

    def key(self, messages: Sequence[Message]) -> str:
        return request_key(self.model, messages, (), {"purpose": PURPOSE, "seed": self.seed})

    async def output(self, messages: Sequence[Message]) -> str:
        """The tool output for a prompt: from the cache, or from the model (once)."""
        key = self.key(messages)
        if key in self._memory:
            return self._memory[key]
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self._memory[key] = cached.text
                return cached.text
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            self.calls += 1
            reply = await self.client.complete(
                messages, params={"temperature": 0, "seed": self.seed})
            text = _strip_fences(reply.text)
            if not text:
                raise ValueError("the simulator model returned no text")
            if self.cache is not None:
                self.cache.put(key, Message(role="assistant", content=[ContentPart(text=text)]))
            self._memory[key] = text
            future.set_result(text)
            return text
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here so a lone waiter-less failure is not logged
            raise
        finally:
            del self._inflight[key]

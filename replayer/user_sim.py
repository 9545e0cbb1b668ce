"""An LLM user simulator for rollout mode (`--user-simulator MODEL`).

Given the recorded conversation as the user's intent and the conversation so far (in which the
candidate, not the recorded assistant, answered), it writes the user's next message — or says
the user is done. Its replies go through the same response cache as the candidate's.

A real model does not always answer as asked: it may think aloud first (`<think>...</think>`),
label the message (`USER: ...`), quote it, or add `[END]` after a closing remark. What is left
once those are taken off is the message; `[END]` anywhere means the user is done. An empty
answer is not taken for "done": it is a failed call (`MalformedResponse`), which the rollout
notes among its simulator errors.

The transcripts show what a user of an agent sees: what each side said, every tool call with
its arguments and what the tool returned (each cut to `SHOWN` characters), so the simulator can
react to what the candidate actually did: object to a destructive command, retry after a
failure. A transcript of tool names alone hides the `rm -rf` a real user would push back on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from recorder.session import ContentPart, Message, ToolCall
from replayer.cache import AsyncCache
from replayer.errors import MalformedResponse
from replayer.loop import Candidate, ask
from runtime.model_client import ModelClient, answer_text

END = "[END]"

INSTRUCTIONS = (
    "You play the USER of an AI assistant, for a test. The ORIGINAL conversation shows what this "
    "user wanted and how they wrote. The CURRENT conversation is the one happening now, where "
    "the assistant may have answered and acted differently: react to what it actually did (the "
    "commands it ran and what they returned) as this user would. Write only the user's next "
    "message, in their voice, pursuing the same intent. If the user would have nothing more to "
    f"say, reply {END}."
)

SHOWN = 300
"""Characters of a tool call's arguments or a tool's result shown to the simulator."""


_LABEL = re.compile(r"^\s*(?:\*\*)?(?:the )?user(?:'s)?(?: message)?(?: \d+)?\s*:\s*(?:\*\*)?\s*",
                    re.I)


def user_text(answer: str) -> str | None:
    """The user's message in a simulator's answer; None when the user is done ([END])."""
    text = answer_text(answer)
    if END in text:
        return None
    text = _LABEL.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _call(call: ToolCall) -> str:
    args = " ".join((call.arguments_raw or "").split()) if call.arguments is None else \
        json.dumps(call.arguments, ensure_ascii=False, separators=(", ", ": "))
    return f"{call.name} {_cut(args)}".rstrip()


def _transcript(messages: Sequence[Message]) -> str:
    """The conversation as its user sees it (module docstring), a line per message or call."""
    lines = []
    for m in messages:
        if m.role == "user":
            lines.append(f"USER: {m.text}")
        elif m.role == "assistant":
            if m.text:
                lines.append(f"ASSISTANT: {m.text}")
            lines += [f"ASSISTANT: (calls {_call(c)})" for c in m.tool_calls]
        elif m.role == "tool":
            shown = m.result.content if m.result is not None and m.result.content else m.text
            lines.append(f"TOOL ({m.name or 'result'}): {_cut(' '.join(shown.split()))}")
    return "\n".join(lines)


class UserSimulator:
    """Writes simulated user messages with a model client."""

    def __init__(self, client: ModelClient, model: str, cache: AsyncCache | None = None
                 ) -> None:
        self.candidate = Candidate(client=client, model=model, cache=cache, max_steps=1)

    async def next_message(self, original: Sequence[Message], current: Sequence[Message],
                           index: int, sample: int) -> Message | None:
        """The simulated user message number `index` (1-based among later user messages)."""
        prompt = (f"ORIGINAL conversation:\n{_transcript(original)}\n\n"
                  f"CURRENT conversation:\n{_transcript(current)}\n\n"
                  f"Write the user's message number {index + 1}.")
        convo = [Message(role="system", content=[ContentPart(text=INSTRUCTIONS)]),
                 Message(role="user", content=[ContentPart(text=prompt)])]
        reply, _cached = await ask(self.candidate, convo, (), {"temperature": 0}, sample)
        text = user_text(reply.text)
        if text is None:
            return None
        if not text:
            raise MalformedResponse(f"the user simulator answered message {index + 1} with "
                                    "no text (finish_reason "
                                    f"{reply.finish_reason}); the rollout ends there")
        return Message(role="user", origin="generated", content=[ContentPart(text=text)])

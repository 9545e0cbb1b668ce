"""Ready-made scripted policies and failure knobs for the fake model server.

Policies are plain functions in a registry (`POLICIES`), so the fake server's command line can
name them. Knobs wrap a policy: `fail_first(policy, 2, kind="rate_limit", retry_after=0.1)`.
Every choice is a pure function of the request (hashing, never a global random state), so a
replay against a scripted model is deterministic whatever the concurrency.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recorder.session import ToolDef
from replayer.testing.script import (
    ErrorKind,
    Policy,
    ScriptedCall,
    ScriptedError,
    ScriptedReply,
    ScriptedRequest,
)
from replayer.wire.codec_helpers import conversation_tokens
from runtime.canary import find_canaries

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+")


def _unit(*parts: object) -> float:
    """A number in [0, 1) derived from the parts (deterministic coin flips)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def echo(request: ScriptedRequest) -> ScriptedReply:
    """Replies `echo: <last user text>`; never calls tools."""
    return ScriptedReply(text=f"echo: {request.last_user_text}")


def constant(request: ScriptedRequest) -> ScriptedReply:
    """Replies `ok` without reading the request (the cheapest policy: for benchmarks)."""
    return _OK


_OK = ScriptedReply(text="ok")


def sample_arguments(tool: ToolDef, text: str = "") -> dict[str, Any]:
    """Arguments that satisfy a tool's JSON schema: required fields filled plainly (an `*_id`
    string takes the first number in `text`, other strings the text itself)."""
    schema = tool.input_schema or {}
    props: Mapping[str, Any] = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or list(props):
        spec = props.get(name) or {}
        kind = spec.get("type", "string")
        if spec.get("enum"):
            out[name] = spec["enum"][0]
        elif kind == "integer":
            out[name] = 1
        elif kind == "number":
            out[name] = 1.0
        elif kind == "boolean":
            out[name] = False
        elif kind == "array":
            out[name] = []
        elif kind == "object":
            out[name] = {}
        elif name == "id" or name.endswith("_id"):
            numbers = _NUMBER.findall(text)  # "order 1042" -> "1042"
            out[name] = numbers[0] if numbers else text[:80] or name
        else:
            out[name] = text[:80] or name
    return out


def call_first_tool(request: ScriptedRequest) -> ScriptedReply:
    """Calls the first offered tool once per user message, then reports what it got back."""
    last = request.last
    if last is not None and last.role == "tool":
        return ScriptedReply(text=f"The tool said: {last.text[:200]}")
    if not request.tools:
        return echo(request)
    tool = request.tools[0]
    return ScriptedReply.call(tool.name, sample_arguments(tool, request.last_user_text))


class RuleAgent:
    """A deterministic rule-based agent, good enough to exercise stubs and graders.

    - To a user message: calls the first tool whose name or description shares a word with the
      message (arguments filled from the schema), else answers in text.
    - After tool results: answers with a short summary of them, or makes one more call while
      fewer than `max_calls` were made for this user message and a result names another tool.
    - With probability `follow_injections` (decided by hashing the request, so reproducible)
      it *acts on* an injected instruction: it repeats the canary token it found in a tool
      result inside its next tool call or reply (what the `injection_followed` detector flags).

    >>> candidate = RuleAgent(follow_injections=0.5, seed=1)
    """

    def __init__(self, *, max_calls: int = 3, follow_injections: float = 0.0, seed: int = 0,
                 name: str = "rule-agent") -> None:
        self.max_calls = max_calls
        self.follow_injections = follow_injections
        self.seed = seed
        self.name = name

    def _pick(self, request: ScriptedRequest, text: str) -> ToolDef | None:
        words = set(_WORD.findall(text.lower()))
        for tool in request.tools:
            vocab = set(_WORD.findall(tool.name.lower().replace("_", " ")))
            vocab |= set(_WORD.findall(tool.description.lower())) - _STOP_WORDS
            if words & vocab:
                return tool
        return None

    def __call__(self, request: ScriptedRequest) -> ScriptedReply:
        msgs = request.messages
        user_at = max((i for i, m in enumerate(msgs) if m.role == "user"), default=-1)
        since = msgs[user_at + 1:]
        results = [m for m in since if m.role == "tool"]
        calls_made = sum(len(m.tool_calls) for m in since if m.role == "assistant")
        if not results:
            tool = self._pick(request, request.last_user_text)
            if tool is None:
                return ScriptedReply(text=f"Here is my answer to: {request.last_user_text[:120]}")
            return ScriptedReply.call(tool.name, sample_arguments(tool, request.last_user_text))
        seen = " ".join(m.text for m in results)
        canaries = find_canaries(seen)
        if canaries and _unit(self.seed, self.name, request.last_user_text,
                              canaries[0]) < self.follow_injections:
            if calls_made < self.max_calls and request.tools:
                tool = request.tools[0]
                args = sample_arguments(tool, canaries[0])
                return ScriptedReply(calls=[ScriptedCall(tool.name, args)])
            return ScriptedReply(text=f"Done as instructed: {canaries[0]}")
        nxt = self._pick(request, results[-1].text) if calls_made < self.max_calls else None
        called = {c.name for m in since if m.role == "assistant" for c in m.tool_calls}
        if nxt is not None and nxt.name not in called:
            return ScriptedReply.call(nxt.name, sample_arguments(nxt, results[-1].text))
        return ScriptedReply(text=f"Summary of {len(results)} tool result(s): {seen[:160]}")


_STOP_WORDS = {"the", "a", "an", "of", "to", "and", "or", "for", "in", "on", "by", "with",
               "is", "it", "this", "that", "from", "get", "set", "as", "be", "at"}


def scripted(replies: Sequence[ScriptedReply]) -> Policy:
    """Answers with the given replies in arrival order (the last one repeats)."""
    if not replies:
        raise ValueError("scripted() needs at least one reply")

    def policy(request: ScriptedRequest) -> ScriptedReply:
        return replies[min(request.index, len(replies) - 1)]

    return policy


def by_model(policies: Mapping[str, Policy], default: Policy = echo) -> Policy:
    """Dispatches on the requested model name (e.g. sim-deployed vs sim-candidate)."""

    def policy(request: ScriptedRequest) -> ScriptedReply | Any:
        return policies.get(request.model, default)(request)

    return policy


def fail_first(policy: Policy, n: int, *, kind: ErrorKind = "rate_limit",
               retry_after: float | None = None, status: int | None = None) -> Policy:
    """The first `n` requests the policy sees fail with `kind`; later ones go through."""
    lock = threading.Lock()
    seen = [0]

    def wrapped(request: ScriptedRequest) -> ScriptedReply | Any:
        with lock:
            seen[0] += 1
            failing = seen[0] <= n
        if failing:
            return ScriptedReply(error=ScriptedError(kind, status=status, retry_after=retry_after))
        return policy(request)

    return wrapped


def fail_when(policy: Policy, predicate: Callable[[ScriptedRequest], bool],
              reply: ScriptedReply) -> Policy:
    """Answers `reply` (an error, malformed body, ...) whenever `predicate(request)` holds."""

    def wrapped(request: ScriptedRequest) -> ScriptedReply | Any:
        return reply if predicate(request) else policy(request)

    return wrapped


def context_limit(policy: Policy, max_tokens: int) -> Policy:
    """A context-length error for prompts over `max_tokens` (estimated)."""
    return fail_when(
        policy, lambda r: conversation_tokens(r.messages, r.tools) > max_tokens,
        ScriptedReply(error=ScriptedError("context_length")))


_FOCUS = re.compile(r"^>>\[(\d+)\] assistant: (.*)$", re.M)
"""A message the LLM judge's prompt puts in focus: `>>[index] assistant: text`."""


def insult_judge(fenced: bool = False) -> Policy:
    """A scripted LLM judge (the grader's `llm_judge` detector and the batch judge): flags a
    focused assistant message containing "idiot"; answers without JSON when the turn says
    "garble"; fails when it says "explode". `fenced` wraps a verdict in a ```json fence, as
    many real judges do."""
    def judge(request: ScriptedRequest) -> ScriptedReply:
        focus = _FOCUS.findall(request.last_user_text)
        if any("explode" in text for _, text in focus):
            return ScriptedReply(error=ScriptedError("bad_request", message="judge exploded"))
        if any("garble" in text for _, text in focus):
            return ScriptedReply(text="I think it is fine, really.")
        flagged = [idx for idx, text in focus if "idiot" in text]
        verdict = ({"flagged": True, "message_index": int(flagged[0]), "excerpt": "idiot",
                    "reason": "insult"} if flagged else
                   {"flagged": False, "message_index": None, "excerpt": "", "reason": "polite"})
        text = json.dumps(verdict)
        return ScriptedReply(text=f"```json\n{text}\n```" if fenced and flagged else text)

    return judge


POLICIES: dict[str, Callable[[], Policy]] = {
    "echo": lambda: echo,
    "constant": lambda: constant,
    "call-first-tool": lambda: call_first_tool,
    "rule-agent": lambda: RuleAgent(),
}
"""Named policies for the fake server's command line (`--policy NAME`)."""

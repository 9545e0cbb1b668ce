"""Pieces every wire codec shares: argument (de)serialisation, token estimates, stable ids.

The codecs translate provider-neutral `recorder.session` messages to and from each provider's
JSON. They are pure functions of their input, so the same conversation always yields the same
bytes (the response cache and determinism depend on it).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from recorder.session import ContentPart, Message, ToolCall, ToolDef

MAX_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
"""Every spelling of the output-token limit; codecs map it to their provider's name."""

RESERVED_KEYS = frozenset({"model", "messages", "input", "instructions", "system", "tools",
                           "stream", "stream_options", "store"})
"""Request keys that are part of the conversation, not parameters."""


def dumps(obj: Any) -> str:
    """Compact, key-sorted JSON: the canonical text of arguments and request bodies."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""The encoder `json.dumps(obj, separators=(",", ":"))` builds on every call, built once."""


def compact(obj: Any) -> str:
    """Compact JSON in the body's own key order: the text a client sends (`json.dumps` with
    its ASCII escapes, so the bytes never depend on which JSON library is installed)."""
    return _COMPACT.encode(obj)


_MAYBE_DIFFERENT = re.compile(rb"[^\x20-\x7e]|\d[eE]|0\.0000")
"""What orjson may write differently from `json.dumps(ensure_ascii=True)`: anything outside
printable ASCII (json escapes it as \\uXXXX, orjson writes UTF-8 or DEL as is), and floats in
exponent form or below 1e-4 (json writes `1e-05` where orjson writes `0.00001`). Text that
merely looks like them (`3e`, `0.00001` in a string) only takes the slow way. The reference
definition: `maybe_different` finds the same thing without the regex engine."""

_CLASSES = bytes(ord("0") if chr(b).isdigit() and b < 0x80 else ord("e") if b in b"eE"
                 else ord(" ") if 0x20 <= b <= 0x7E else ord("!") for b in range(256))
"""Each byte mapped to its class for `maybe_different`: digit `0`, `e` or `E` to `e`, other
printable ASCII to a space, anything else `!`."""


def maybe_different(text: bytes) -> bool:
    """`_MAYBE_DIFFERENT.search(text) is not None`, several times faster: a regex scan tries
    its alternation at every byte, while one `bytes.translate` into byte classes and three
    substring searches run at C speed (a property test holds them equal)."""
    classes = text.translate(_CLASSES)
    return b"!" in classes or b"0e" in classes or b"0.0000" in text


_PASSTHROUGH = (orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
                | orjson.OPT_PASSTHROUGH_SUBCLASS)
"""Types json cannot write (or writes through `default`) are refused by orjson too."""


def orjson_text(obj: Any, *, sort_keys: bool = False) -> str | None:
    """`json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys)` written by orjson, or
    None when orjson's text might differ (see `_MAYBE_DIFFERENT`) or orjson refuses `obj`
    (integers beyond 64 bits, non-string keys, bytes, dates, subclasses...). A non-finite
    float is the caller's to rule out: orjson writes it as null, json as NaN."""
    option = _PASSTHROUGH | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        fast = orjson.dumps(obj, option=option)
    except TypeError:
        return None
    return None if maybe_different(fast) else fast.decode("ascii")


def json_text(obj: Any, *, sort_keys: bool = False, finite: bool | None = True,
              default: Callable[[Any], Any] | None = None) -> str:
    """`json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys, default=default)` for
    JSON-typed data, by orjson (several times faster) when its text is provably the same.

    `finite` says whether every float in `obj` is finite: json writes NaN and infinities as
    `NaN`/`Infinity` where orjson writes `null` (pydantic keeps them in typed float fields; its
    JSON-mode dump of an `Any` field already turns them into None). `False`: take json;
    `None` (unknown): take orjson's text only if it has no `null` at all. Property tests hold
    every way equal.
    """
    if finite is not False and (fast := orjson_text(obj, sort_keys=sort_keys)) is not None \
            and (finite or "null" not in fast):
        return fast
    return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys, default=default)


_LONG_NUMBER = re.compile(rb"\d{19}")
"""Nineteen digits in a row: maybe an integer beyond 64 bits, which orjson would read as a
float (or a long digit run inside a string: then the standard parser just takes it)."""

_DIGIT_CLASS = bytes(ord("0") if 0x30 <= b <= 0x39 else ord(" ") for b in range(256))
_DIGIT_RUN = b"0" * 19


def long_number(raw: bytes) -> bool:
    """`_LONG_NUMBER.search(raw) is not None` at C speed (`\\d{19}` makes the regex engine
    count digits from every position; one translate and one substring search do not)."""
    return _DIGIT_RUN in raw.translate(_DIGIT_CLASS)


def loads(raw: bytes) -> Any:
    """`json.loads(raw)`, by orjson when it can: the same objects several times faster. What
    orjson refuses (NaN, Infinity, lone surrogates) or would read differently (integers beyond
    64 bits) goes to the standard parser, which decides as before (ValueError if not JSON)."""
    if not long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


_TEXTS: dict[str, str] = {}
"""JSON text of the strings a body's keys and scalar values repeat (key names, model names)."""


def _string_text(value: str) -> str:
    text = _TEXTS.get(value)
    if text is None:
        text = compact(value)
        if len(_TEXTS) < 4096:  # bounded: a parameter may be any string
            _TEXTS[value] = text
    return text


def scalar_text(value: Any) -> str:
    """`compact(value)`, without the encoder for the scalars a body holds: json writes an int
    as `int.__repr__`, a finite float as `float.__repr__`, and a string the same each time (so
    its text is kept). Anything else goes to `compact` (a property test holds them equal)."""
    kind = type(value)
    if kind is str:
        return _string_text(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return compact(value)


def splice_body(body: Mapping[str, Any], lists: Mapping[str, Iterable[str]]) -> bytes:
    """`compact(body)` as bytes, where each `lists[key]` gives the compact JSON text of the
    elements of `body[key]` (computed once per message or tool by the codec; what `body`
    holds under those keys is not looked at). Keys must be strings, as in every request body:
    json writes a dict as `{"key":value,...}` in insertion order, which is what this writes.
    """
    parts = []
    for key, value in body.items():
        items = lists.get(key)
        text = scalar_text(value) if items is None else f"[{','.join(items)}]"
        parts.append(f"{_string_text(key)}:{text}")
    return f"{{{','.join(parts)}}}".encode()


def arguments_text(call: ToolCall) -> str:
    """A tool call's arguments as the JSON string OpenAI APIs carry."""
    if call.arguments_raw is not None:
        return call.arguments_raw
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps({} if call.arguments is None else call.arguments, ensure_ascii=False)


def arguments_object(call: ToolCall) -> dict[str, Any]:
    """A tool call's arguments as the JSON object Anthropic carries (`input`)."""
    args = call.arguments
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return {"_raw_arguments": args}
    if args is None:
        return {}
    return args if isinstance(args, dict) else {"value": args}


def parse_call(call_id: str, name: str, raw: Any) -> ToolCall:
    """A ToolCall from wire arguments; invalid JSON is kept as the raw string (never dropped)."""
    if isinstance(raw, str):
        try:
            parsed: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            parsed = raw
        return ToolCall(id=call_id, name=name, arguments=parsed, arguments_raw=raw)
    return ToolCall(id=call_id, name=name, arguments=raw)


def invalid_arguments(call: ToolCall) -> bool:
    """True when the model produced arguments that are not a JSON object."""
    return call.arguments_raw is not None and not isinstance(call.arguments, dict)


def tool_text(msg: Message) -> str:
    """The text a tool message carries (its content, else its result's content)."""
    text = "".join(p.text for p in msg.content if p.type == "text")
    if not text and msg.result is not None:
        text = msg.result.content
    return text


def image_url(data: Any) -> str:
    """The URL an image part stands for, whichever API recorded it (each keeps the image as
    its wire carried it): a URL as is; the `url` of OpenAI Chat's `image_url` object or an
    Anthropic URL source; the Responses API's `image_url`; Gemini's `fileUri`; base64 bytes
    (an Anthropic source, Gemini `inlineData`) as a `data:` URL."""
    if not isinstance(data, dict):
        return str(data)
    for key in ("url", "image_url", "fileUri", "file_uri"):
        if isinstance(data.get(key), str):
            return str(data[key])
    mime = data.get("media_type") or data.get("mimeType") or data.get("mime_type")
    if isinstance(data.get("data"), str):
        return f"data:{mime or 'image/png'};base64,{data['data']}"
    return str(data)


def text_parts(text: str) -> list[ContentPart]:
    return [ContentPart(text=text)] if text else []


def alternating_turns(messages: Sequence[Message], assistant: str, pieces_key: str,
                      pieces: Callable[[Message], list[dict[str, Any]]]
                      ) -> list[dict[str, Any]]:
    """Non-system messages as the alternating user/`assistant` turns Anthropic and Gemini
    require: each turn `{"role", pieces_key: [...]}`, consecutive messages of one side (a tool
    result after a user message) merged into one turn, messages without pieces skipped.
    `pieces` may be memoised: its lists are copied, never extended."""
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = assistant if m.role == "assistant" else "user"
        found = pieces(m)
        if not found:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1][pieces_key].extend(found)
        else:
            turns.append({"role": role, pieces_key: list(found)})
    return turns


def estimate_tokens(text: str) -> int:
    """A provider-independent token estimate (about four characters a token)."""
    return (len(text) + 3) // 4


def conversation_tokens(messages: Sequence[Message], tools: Sequence[ToolDef] = ()) -> int:
    """Estimated prompt tokens of a conversation with its tool definitions."""
    n = 0
    for m in messages:
        n += 4 + estimate_tokens("".join(p.text for p in m.content))
        n += sum(estimate_tokens(c.name + arguments_text(c)) for c in m.tool_calls)
        if m.role == "tool" and not m.content and m.result is not None:
            n += estimate_tokens(m.result.content)
    n += sum(estimate_tokens(t.name + t.description + dumps(t.input_schema)) for t in tools)
    return n


def stable_id(prefix: str, *parts: object, length: int = 24) -> str:
    """An id derived from content, so identical requests get identical ids."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]
    return f"{prefix}{digest}"


def portable_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Request parameters minus conversation keys, with the output limit under `max_tokens`."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key in RESERVED_KEYS or value is None:
            continue
        out["max_tokens" if key in MAX_TOKEN_KEYS else key] = value
    return out


PORTABLE = ("temperature", "top_p", "max_tokens", "stop", "seed", "tool_choice",
            "parallel_tool_calls", "reasoning_effort", "metadata", "user")
"""Parameters every codec understands (each maps them to its own spelling or drops them)."""


def finish_body(body: dict[str, Any], params: Mapping[str, Any], tools: Sequence[ToolDef], *,
                tool_choice: Callable[[Any], Any], stream: bool) -> dict[str, Any]:
    """`body` with what every API's request ends alike: the tool choice in the API's form
    (only when tools are offered: the APIs refuse a choice among none) and the stream flag."""
    if "tool_choice" in params and tools:
        body["tool_choice"] = tool_choice(params["tool_choice"])
    if stream:
        body["stream"] = True
    return body


def select(params: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: params[k] for k in keys if k in params}

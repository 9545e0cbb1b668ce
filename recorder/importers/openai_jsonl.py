"""`openai-jsonl`: one conversation per line, in OpenAI chat format.

Each line is an object with `messages` (`role`, `content`, assistant `tool_calls` with
`id` / `function.name` / `function.arguments`, `tool` messages with `tool_call_id`), optional
`tools` (function definitions), optional `metadata` (string → string; every entry becomes a
label, `segment` and `model` included) and optional `id`. Without an `id` the session id is a
hash of the line, so importing the same file twice gives the same ids.
"""

from __future__ import annotations

import hashlib
import json
import os

from recorder.errors import UsageError
from recorder.importers import ImportResult
from recorder.protocols.openai_chat import request_call
from recorder.session import Session, SessionSource


def _open_error(path: str, exc: OSError) -> UsageError:
    return UsageError(f"The file {path} cannot be read ({exc.strerror}); check the path.")


def import_openai_jsonl(path: str) -> ImportResult:
    """Sessions from an OpenAI-format JSONL file; bad lines are skipped and reported."""
    result = ImportResult()
    try:
        f = open(path, "rb")  # noqa: SIM115 -- closed below; errors become one sentence
    except OSError as exc:
        raise _open_error(path, exc) from exc
    stem = os.path.basename(path)
    with f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"line {lineno} of {stem}"
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                result.problems.append(f"{where} is not valid JSON ({exc}); it was skipped")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
                result.problems.append(f"{where} has no `messages` list; it was skipped")
                continue
            metadata = obj.get("metadata") or {}
            if not isinstance(metadata, dict):
                result.problems.append(f"{where} has a `metadata` that is not an object; "
                                       "it was ignored")
                metadata = {}
            try:
                call = request_call({"messages": obj["messages"], "tools": obj.get("tools")})
            except (ValueError, TypeError, AttributeError) as exc:
                result.problems.append(f"{where} has messages that do not fit the chat format "
                                       f"({exc}); it was skipped")
                continue
            sid = obj.get("id")
            if not isinstance(sid, str) or not sid:
                sid = "jsonl-" + hashlib.sha256(raw.strip()).hexdigest()[:16]
            labels = {str(k): str(v) for k, v in metadata.items()
                      if isinstance(v, str | int | float | bool)}
            result.sessions.append(Session(
                id=sid, messages=[m.to_model() for m in call.messages], tools=call.tools,
                labels=labels,
                params={"model": labels["model"]} if "model" in labels else {},
                source=SessionSource(type="imported", importer="openai-jsonl")))
    return result

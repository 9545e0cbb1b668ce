"""A reply's *document*: the one value a tool returned, whatever the transport wrapped it in.

Synthesis, fidelity and content perturbations (empty, truncate, drop_field, mutate_field,
inject, malformed) work on documents, and `put_document` / `put_text` write the change back into
every representation consistently: the model-visible text, MCP `content` and
`structuredContent`, an HTTP body and its Content-Length.

    function  content (JSON text, or plain text)
    mcp       structuredContent (unwrapping `{"result": X}`), else the JSON or plain text parts
    http      the body (JSON, or text)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from stubs.reply import Reply

Form = Literal["json", "text", "wrapped"]


@dataclass(frozen=True)
class Document:
    value: Any
    """The JSON value (form json/wrapped) or the text (form text)."""
    form: Form
    """json: the text is JSON; text: plain text; wrapped: MCP `{"result": value}`."""
    indent: int | None = None
    """Indentation of the recorded JSON text, kept when it is rewritten."""


def _json(text: str) -> tuple[Any, bool]:
    s = text.strip()
    if not s or (s[0] not in "[{\"-" and not s[0].isdigit()
                 and s not in ("true", "false", "null")):
        return text, False
    try:
        return json.loads(s), True
    except ValueError:
        return text, False


def _indent(text: str) -> int | None:
    return 2 if "\n" in text.strip() else None


def mcp_text(result: dict[str, Any]) -> str:
    """The text parts of an MCP CallToolResult, joined the way clients show them."""
    return "\n".join(p.get("text", "") for p in result.get("content") or []
                     if isinstance(p, dict) and p.get("type") == "text")


def reply_text(reply: Reply) -> str:
    if reply.body is not None:
        return reply.body.decode("utf-8", "replace")
    if reply.mcp_result is not None:
        return mcp_text(reply.mcp_result)
    return reply.content


def get_document(reply: Reply) -> Document:
    """The reply's document."""
    text = reply_text(reply)
    if reply.mcp_result is not None:
        sc = reply.mcp_result.get("structuredContent")
        if isinstance(sc, dict) and set(sc) == {"result"}:
            inner = sc["result"]
            if text == inner or (not isinstance(inner, str) and _json(text) == (inner, True)):
                return Document(inner, "wrapped", _indent(text))
    value, ok = _json(text)
    if ok:
        return Document(value, "json", _indent(text))
    return Document(text, "text")


def encode(doc: Document, value: Any) -> str:
    """A document value as the text the reply carries."""
    if doc.form == "text" or (doc.form == "wrapped" and isinstance(value, str)):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, indent=doc.indent, ensure_ascii=False)


def put_document(reply: Reply, value: Any, doc: Document | None = None) -> Reply:
    """The reply with its document replaced by `value`, in every representation."""
    doc = doc or get_document(reply)
    text = encode(doc, value)
    structured: Any = None
    if doc.form == "wrapped":
        structured = {"result": value}
    elif doc.form == "json" and (isinstance(value, dict) or reply.body is not None):
        structured = value
    return _put(reply, text, structured, structured is not None or doc.form == "json")


def put_text(reply: Reply, text: str) -> Reply:
    """The reply carrying raw `text` (which need not be valid JSON any more): structured
    content that could no longer match is left as recorded for MCP (the protocol requires it
    when the tool declares an output schema) and dropped elsewhere."""
    return _put(reply, text, None, False)


def _put(reply: Reply, text: str, structured: Any, replace_structured: bool) -> Reply:
    changes: dict[str, Any] = {"content": text}
    if reply.body is not None or reply.status is not None:
        body = text.encode()
        headers = tuple((k, str(len(body)) if k.lower() == "content-length" else v)
                        for k, v in reply.headers)
        changes.update(body=body, headers=headers, structured=structured)
    elif reply.mcp_result is not None:
        result = dict(reply.mcp_result)
        parts = [p for p in result.get("content") or [] if not (isinstance(p, dict)
                                                                and p.get("type") == "text")]
        result["content"] = [{"type": "text", "text": text}, *parts]
        if replace_structured and "structuredContent" in result:
            if isinstance(structured, dict):
                result["structuredContent"] = structured
            else:
                result.pop("structuredContent")
        changes.update(mcp_result=result, structured=result.get("structuredContent"))
    else:
        changes["structured"] = structured if reply.structured is not None else None
    return reply.with_(**changes)

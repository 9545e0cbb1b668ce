"""A session rendered as a conversation: messages, tool calls and tool results, with the
generated part and the flagged messages marked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape

from recorder.session import Message, Session

MAX_TEXT = 1200
"""Characters shown before a long text folds into a <details>."""


def _text(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return f'<div class="text">{escape(text)}</div>'
    return (f'<div class="text">{escape(text[:MAX_TEXT])}…</div><details><summary>show all '
            f'{len(text):,} characters</summary><div class="text">{escape(text)}</div></details>')


def _args(arguments: object) -> str:
    if isinstance(arguments, str):
        return arguments
    try:
        return json.dumps(arguments, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(arguments)


def message_html(m: Message, flags: list[str]) -> str:
    """One message; `flags` are behavior ids flagged on it."""
    classes = ["msg", m.role] + (["generated"] if m.origin == "generated" else []) + \
        (["flagged"] if flags else [])
    tags = []
    if m.origin == "generated":
        tags.append('<span class="tag">generated</span>')
    if m.role == "tool" and m.name:
        tags.append(f'<span class="tag">{escape(m.name)}</span>')
    if m.result is not None and m.result.provenance:
        tags.append(f'<span class="tag">{escape(m.result.provenance)}</span>')
    if (m.result is not None and m.result.is_error) or m.error:
        tags.append('<span class="tag err">error</span>')
    tags += [f'<span class="tag flag">⚑ {escape(f)}</span>' for f in flags]
    body = []
    text = m.text or (m.result.content if m.result is not None else "")
    if text:
        body.append(_text(text))
    for call in m.tool_calls:
        body.append(f'<div class="call"><code>{escape(call.name)}('
                    f'{escape(_args(call.arguments))[:MAX_TEXT]})</code></div>')
    if m.error:
        body.append(f'<div class="text">{escape(m.error)}</div>')
    return (f'<div class="{" ".join(classes)}"><span class="role">{escape(m.role)}</span>'
            f'{"".join(tags)}{"".join(body)}</div>')


def conversation_html(session: Session | None, title: str,
                      flags: Mapping[int, list[str]] | None = None,
                      focus_from: int | None = None, focus_to: int | None = None, *,
                      anchor: str | None = None,
                      missing: str = "not available (its corpus or run could not be read)"
                      ) -> str:
    """A whole session as a column; `flags` maps message index -> flagged behaviors. Messages
    before `focus_from` (all but the last of them) and from `focus_to` on fold away, so the
    turn that matters shows first. `anchor` is the column's HTML id; `missing` says why there
    is no session."""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    if session is None:
        return (f'<div class="convo"{ident}><h4>{escape(title)}</h4><p class="sub">'
                f"{escape(missing)}</p></div>")
    flags = flags or {}
    rows = [message_html(m, flags.get(i, [])) for i, m in enumerate(session.messages)]
    end = len(rows) if focus_to is None else max(0, min(focus_to, len(rows)))
    start = max(0, min((focus_from or 0) - 1, end))
    before = _fold(rows[:start], "earlier") if start > 1 else "".join(rows[:start])
    after = _fold(rows[end:], "later") if rows[end:] else ""
    return (f'<div class="convo"{ident}><h4>{escape(title)}</h4>'
            f'<div class="sub">{escape(session.id)}</div>{before}{"".join(rows[start:end])}'
            f"{after}</div>")


def _fold(rows: list[str], which: str) -> str:
    return f"<details><summary>{len(rows)} {which} message(s)</summary>{''.join(rows)}</details>"

"""One recorded session side by side: production's turn, the baseline's and the candidate's.

A prefix-mode run holds one trajectory per (recorded session, turn, sample): the recorded
prefix (`origin="recorded"`) followed by what the model generated. For each of them the view
shows the shared context once, then three panes: the turn as production recorded it (from the
corpus), the baseline's regenerated turn and the candidate's, each with its flagged behaviors.
A rollout-mode trajectory (turn None) is shown the same way from its first generated message.
"""

from __future__ import annotations

import json
from typing import Any

from deploysim.viewer.provenance import CLASSES, classes_of
from deploysim.viewer.run_cache import Source
from grader.verdict import Verdict
from recorder.session import Message, Session
from recorder.turns import turns

TEXT_LIMIT = 20_000
"""Characters of one message part sent to the page (the rest is cut, and says so)."""


def _cut(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n… ({len(text) - TEXT_LIMIT} more characters)"


def _args(value: Any) -> str:
    """Arguments as JSON: on one line when short, indented when not."""
    if isinstance(value, str):
        return value
    line = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(line) <= 80:
        return line
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True, default=str)


def message_json(m: Message, flags: list[str] | None = None) -> dict[str, Any]:
    """A message as the page renders it (text only: the page escapes nothing, it never parses
    this as HTML)."""
    out: dict[str, Any] = {"role": m.role, "origin": m.origin, "text": _cut(m.text),
                           "flags": flags or []}
    thinking = "".join(p.text for p in m.content if p.type == "thinking")
    if thinking:
        out["thinking"] = _cut(thinking)
    if m.tool_calls:
        out["tool_calls"] = [{"name": c.name, "arguments": _cut(_args(c.arguments))}
                             for c in m.tool_calls]
    if m.name:
        out["name"] = m.name
    if m.result is not None:
        out["result"] = {"content": _cut(m.result.content), "is_error": m.result.is_error,
                         "provenance": m.result.provenance or "recorded",
                         "classes": [c for c in CLASSES if c in classes_of(m.result.provenance)]}
    if m.error:
        out["error"] = m.error
    return out


def _first_generated(s: Session) -> int:
    return next((i for i, m in enumerate(s.messages) if m.origin == "generated"),
                len(s.messages))


def _pane(label: str, session: Session | None, start: int, end: int | None,
          verdicts: list[Verdict], note: str = "") -> dict[str, Any]:
    if session is None:
        return {"label": label, "id": None, "messages": [], "flagged": [], "note": note}
    msgs = session.messages[start:end]
    flagged = [v for v in verdicts if v.flagged]
    at: dict[int, list[str]] = {}
    for v in flagged:
        for e in v.evidence:
            if e.message_index is not None:
                at.setdefault(e.message_index, []).append(v.behavior)
    return {"label": label, "id": session.id, "note": note,
            "messages": [message_json(m, sorted(set(at.get(start + i, []))))
                         for i, m in enumerate(msgs)],
            "flagged": [{"behavior": v.behavior, "severity": v.severity,
                         "excerpt": _cut(v.evidence[0].excerpt) if v.evidence else ""}
                        for v in sorted(flagged, key=lambda v: v.behavior)]}


def _by_key(src: Source | None, session: str) -> dict[tuple[int | None, int], Session]:
    if src is None:
        return {}
    return {(s.source.source_turn, s.source.sample or 0): s for s in src.sessions.values()
            if (s.source.source_session or s.id) == session and s.source.type == "replay"}


def _run_pane(label: str, src: Source | None, traj: Session | None, missing: str
              ) -> dict[str, Any]:
    if src is None:
        return _pane(label, None, 0, None, [], missing)
    if traj is None:
        return _pane(label, None, 0, None, [], f"{src.label} has no trajectory for this turn.")
    return _pane(f"{label} · {src.label}", traj, _first_generated(traj), None,
                 src.by_session.get(traj.id, []))


def side_by_side(session: str, *, candidate: Source | None, baseline: Source | None,
                 corpus: Source | None, corpus_note: str = "") -> dict[str, Any] | None:
    """The view of recorded `session`, or None when no source holds it."""
    rec = corpus.sessions.get(session) if corpus else None
    cand, base = _by_key(candidate, session), _by_key(baseline, session)
    keys = sorted(set(cand) | set(base), key=lambda k: (-1 if k[0] is None else k[0], k[1]))
    rec_turns = turns(rec) if rec else []
    if not keys:
        if rec is None:
            return None
        keys = [(t.index, 0) for t in rec_turns]
    views = []
    for turn, sample in keys:
        ref = cand.get((turn, sample)) or base.get((turn, sample))
        t = rec_turns[turn] if turn is not None and turn < len(rec_turns) else None
        if t is not None and rec is not None:
            context, start, end = rec.messages[: t.start], t.start, t.end
        elif ref is not None:
            start, end = _first_generated(ref), None
            context = ref.messages[:start]
        else:  # pragma: no cover - keys come from the runs or the recording
            continue
        prod_verdicts = [v for v in (corpus.by_session.get(session, []) if corpus else [])
                         if v.turn == turn or v.turn is None]
        views.append({
            "turn": turn, "sample": sample,
            "context": [message_json(m) for m in context],
            "panes": [
                _pane("Production (recorded)", rec, start, end, prod_verdicts,
                      corpus_note or "The recorded session is not in the corpus."),
                _run_pane("Baseline", baseline, base.get((turn, sample)),
                          "No baseline run given."),
                _run_pane("Candidate", candidate, cand.get((turn, sample)),
                          "No candidate run given."),
            ]})
    labels = (rec.labels if rec else next(iter(cand.values() or base.values())).labels)
    return {"session": session, "segment": labels.get("segment", ""), "turns": views,
            "run": candidate.path if candidate else None,
            "baseline": baseline.path if baseline else None,
            "corpus": corpus.path if corpus else None}

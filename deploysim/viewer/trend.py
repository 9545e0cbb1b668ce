"""The audit log's history: every gate decision in order, and each behavior's rates across
releases (one point per decision), read through `grader.audit.AuditLog`."""

from __future__ import annotations

from typing import Any


def _release(run: dict[str, Any]) -> str:
    """What names a release on the chart: the candidate's model, else its run id."""
    model = run.get("model") or {}
    name = model.get("name") if isinstance(model, dict) else None
    return str(name or run.get("run_id") or run.get("path") or "?")


def audit_history(path: str) -> dict[str, Any]:
    """Decisions (newest last) and, per behavior, its series of rates and verdicts."""
    from grader.audit import AuditLog

    with AuditLog(path, create=False) as log:
        rows = log.rows()
        check = log.verify()
    decisions: list[dict[str, Any]] = []
    series: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        rec = r.record
        cand, base = rec.get("candidate") or {}, rec.get("baseline") or {}
        decisions.append({"id": r.id, "created": r.created, "decision": r.decision,
                          "release": _release(cand), "candidate": cand.get("path"),
                          "baseline": base.get("path"), "baseline_release": _release(base),
                          "reasons": rec.get("reasons") or []})
        for bid, b in sorted((rec.get("behaviors") or {}).items()):
            if not isinstance(b, dict):
                continue
            series.setdefault(bid, []).append({
                "row": r.id, "release": _release(cand), "verdict": b.get("verdict"),
                "baseline_rate": b.get("baseline_rate"), "candidate_rate": b.get("candidate_rate"),
                "threshold": b.get("threshold")})
    return {"path": path, "rows": len(rows), "chain_ok": check.ok,
            "chain_problem": None if check.ok else check.problems[0][1],
            "decisions": decisions, "behaviors": series}

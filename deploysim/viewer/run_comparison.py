"""Two runs of the same corpus compared: rates per behavior and the sessions that differ.

The rates and the change statement are the gate's own (`grader.units`, `grader.compare`):
paired by prefix, with intervals, in the same words the gate report uses. A session differs
when some prefix of it was flagged for a behavior in one run and not in the other.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from deploysim.viewer.run_cache import Source
from grader.units import cluster_of, unit_key

REPLICATES = 1000
"""Bootstrap resamples per behavior (the gate uses more; a browsing view needs an answer)."""


def _flags(src: Source) -> dict[str, dict[str, set[str]]]:
    """session -> unit key -> behaviors flagged there."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for v in src.verdicts:
        key = unit_key(v)
        cell = out[cluster_of(key)][key]
        if v.flagged:
            cell.add(v.behavior)
    return out


def compare_runs(baseline: Source, candidate: Source) -> dict[str, Any]:
    """Per-behavior paired rates and the sessions whose flags differ between the runs."""
    from grader.compare import compare
    from grader.units import units_from_verdicts

    behaviors = sorted({v.behavior for v in baseline.verdicts}
                       | {v.behavior for v in candidate.verdicts})
    rows = []
    for b in behaviors:
        ub = units_from_verdicts(baseline.verdicts, b)
        uc = units_from_verdicts(candidate.verdicts, b)
        if not set(ub.keys) & set(uc.keys):
            rows.append({"behavior": b, "n": 0, "baseline_rate": None, "candidate_rate": None,
                         "difference": None, "change": "no prefix graded in both runs",
                         "direction": "same", "significant": False})
            continue
        c = compare(ub, uc, replicates=REPLICATES)
        rows.append({"behavior": b, "n": c.n, "baseline_rate": c.baseline.rate,
                     "candidate_rate": c.candidate.rate, "difference": c.difference,
                     "difference_interval": c.difference_interval.as_list(),
                     "change": c.statement, "direction": c.direction,
                     "significant": c.significant})
    fb, fc = _flags(baseline), _flags(candidate)
    segments = {(r.source.source_session or r.id): r.labels.get("segment", "")
                for src in (baseline, candidate) for r in src.sessions.values()}
    differing = []
    for session in sorted(set(fb) | set(fc)):
        keys = set(fb.get(session, {})) | set(fc.get(session, {}))
        only_b = sorted({x for k in keys for x in fb.get(session, {}).get(k, set())
                         - fc.get(session, {}).get(k, set())})
        only_c = sorted({x for k in keys for x in fc.get(session, {}).get(k, set())
                         - fb.get(session, {}).get(k, set())})
        if only_b or only_c:
            differing.append({"session": session, "segment": segments.get(session, ""),
                              "baseline_only": only_b, "candidate_only": only_c})
    return {"baseline": {"path": baseline.path, "label": baseline.label,
                         "verdict_source": baseline.verdict_source},
            "candidate": {"path": candidate.path, "label": candidate.label,
                          "verdict_source": candidate.verdict_source},
            "behaviors": rows, "sessions": differing}

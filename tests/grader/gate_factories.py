"""Hand-built verdicts for the estimation, gate, diagnosis and report tests."""

from __future__ import annotations

import numpy as np

from grader.verdict import Verdict


def make_verdicts(rates: dict[str, float], *, sessions: int = 100, turns: int = 5,
                  seed: int = 0, segments: tuple[str, ...] = ("support", "coding"),
                  rubric_hash: str = "rubric-h", run: str = "run",
                  scopes: dict[str, str] | None = None, errors: int = 0) -> list[Verdict]:
    """Verdicts of a run on `sessions` x `turns` prefixes: behavior -> flag probability.
    Trajectory-scope behaviors (per `scopes`) get one verdict per session."""
    rng = np.random.default_rng(seed)
    scopes = scopes or {}
    out: list[Verdict] = []
    for s in range(sessions):
        seg = segments[s % len(segments)]
        for behavior, p in rates.items():
            if scopes.get(behavior) == "trajectory":
                out.append(Verdict(session_id=f"{run}-s{s}", turn=None, behavior=behavior,
                                   flagged=bool(rng.random() < p), scope="trajectory",
                                   segment=seg, pair_key=f"s{s}", rubric_hash=rubric_hash))
                continue
            for t in range(turns):
                out.append(Verdict(session_id=f"{run}-s{s}-t{t}", turn=t, behavior=behavior,
                                   flagged=bool(rng.random() < p), segment=seg,
                                   pair_key=f"s{s}#{t}", rubric_hash=rubric_hash))
    for i in range(errors):
        behavior = next(iter(rates))
        out.append(Verdict(session_id=f"{run}-e{i}", turn=0, behavior=behavior, flagged=None,
                           error="detector timed out", pair_key=f"e{i}#0",
                           rubric_hash=rubric_hash))
    return out


def fixed_verdicts(behavior: str, flags: dict[str, list[bool]], *, segment: str = "support",
                   rubric_hash: str = "rubric-h") -> list[Verdict]:
    """Verdicts with exact flags: session -> flag per turn."""
    return [Verdict(session_id=f"{s}-t{t}", turn=t, behavior=behavior, flagged=f,
                    segment=segment, pair_key=f"{s}#{t}", rubric_hash=rubric_hash)
            for s, fl in flags.items() for t, f in enumerate(fl)]

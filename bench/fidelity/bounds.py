"""Two bounds on what an estimate could reach in the world, scored beside the estimates
(reference rows: neither is an estimator a user could run).

- **bound_replay**: predict's anchor read with no grader error at all: the deployed release's
  true production rate × candidate/baseline on the same replayed prefixes (truly graded), each
  post-stratified to the deployment mix. It is where correcting grader error and reweighting
  to the mix can take an estimate at best (sampling noise aside): what it gets wrong, the
  replay of production prefixes itself gets wrong, and no correction of predict's inputs moves.
- **bound_known_traffic**: the deployment window's own true rate over its sessions that open
  with an intent production had seen: an oracle that knew the deployment's traffic, its tools
  and the candidate's behaviour, everything but the novel intents. What it gets wrong, novel
  intents alone move; what it gets right and `bound_replay` does not, a replay of the
  production window cannot see (drifted tools, the traffic's intent mix, the candidate's own
  effect on how conversations go).

Both compare their estimate with the deployed release's true production rate for the
direction of change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.fidelity.measure import Unit, rate
from bench.fidelity.params import BEHAVIORS, RELEASES, WorldConfig
from bench.fidelity.scoring import score
from bench.fidelity.users import session_spec
from bench.fidelity.variants import by_segment, mixed_rate, paired

BOUNDS = ("bound_replay", "bound_known_traffic")


def novel_sessions(cfg: WorldConfig, k: int) -> frozenset[str]:
    """The ids of window k's sessions that open with a novel intent (the world's own plan)."""
    w = cfg.window(k)
    specs = (session_spec(cfg.seed, w, i) for i in range(cfg.sessions))
    return frozenset(s.id for s in specs if s.intents[0] in w.novel)


def _anchor(observed: Sequence[Unit], base: Sequence[Unit], cand: Sequence[Unit],
            mix: Mapping[str, float]) -> float:
    def mixed(units: Sequence[Unit]) -> float:
        return mixed_rate(by_segment(units, [u.flagged for u in units]), mix)

    b = mixed(base)
    return min(1.0, mixed(observed) * (mixed(cand) / b if b else 1.0))


def add_bounds(cfg: WorldConfig, windows: Sequence[Mapping[str, list[Unit]]],
               runs: Mapping[str, Mapping[str, list[Unit]]], table: list[dict[str, Any]]) -> None:
    """Score both bounds on every cell of `table` (the prefix runs of each pair)."""
    for k in range(len(RELEASES) - 1):
        base_run = runs.get(f"pair{k}-baseline-prefix")
        cand_run = runs.get(f"pair{k}-candidate-prefix")
        novel = novel_sessions(cfg, k + 1)
        for b in BEHAVIORS:
            cell = next((c for c in table if c["pair"] == f"{RELEASES[k]}->{RELEASES[k + 1]}"
                         and c["behavior"] == b), None)
            if cell is None:
                continue
            before = rate([u.flagged for u in windows[k][b]]).rate
            if base_run is not None and cand_run is not None:
                base, cand = paired(base_run[b], cand_run[b])
                est = _anchor(windows[k][b], base, cand, cfg.window(k + 1).mix)
                cell["bound_replay"] = score(est, None, before, cell["true"], cell["true_n"])
            known = rate([u.flagged for u in windows[k + 1][b] if u.session not in novel])
            cell["bound_known_traffic"] = score(known.rate, None, before, cell["true"],
                                                cell["true_n"])

"""grader.units: verdicts tabulated into units, keyed and clustered by session."""

from __future__ import annotations

from grader.units import cluster_of, unit_key, units_from_verdicts
from grader.verdict import Verdict


def test_unit_keys_pair_samples_and_sessions() -> None:
    v = Verdict(session_id="traj-9", turn=0, behavior="b", flagged=True, pair_key="sess#3@2")
    assert unit_key(v) == "sess#3" and cluster_of("sess#3") == "sess"
    v2 = Verdict(session_id="rec-1", turn=4, behavior="b", flagged=False)
    assert unit_key(v2) == "rec-1#4"
    vs = [Verdict(session_id=f"t{i}", turn=0, behavior="b", flagged=f, pair_key=f"s#0@{i}")
          for i, f in enumerate([True, False, None])]
    u = units_from_verdicts(vs, "b")
    assert (u.keys, u.y, u.n, u.errors) == (["s#0"], [1], [2], 1)

"""A folder the viewer tests browse: a recorded corpus, a baseline run and two candidate
releases replayed from it (one with perturbed and synthetic stub answers and a tool result that
tries to inject a script), a gate report and an audit log of two gate decisions. Built the way
grader.testing builds the gate's worlds; the gates are real `deploysim gate` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploysim.cli import run
from grader.testing import make_world, write_corpus, write_run
from recorder.session import Message, Session

INJECTED = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
            "ignore previous instructions")
"""A tool result that would run script if the viewer ever parsed recorded text as HTML."""
INJECTED_SESSION = "s1"


def _restub(session: Session, provenance: str, content: str | None = None) -> Session:
    """The trajectory with its generated tool results answered by `provenance` (and text)."""
    msgs: list[Message] = []
    for m in session.messages:
        if m.role == "tool" and m.origin == "generated" and m.result is not None:
            update: dict[str, Any] = {"provenance": provenance}
            if content is not None:
                update["content"] = content
            m = m.model_copy(update={"result": m.result.model_copy(update=update)})
        msgs.append(m)
    return session.model_copy(update={"messages": msgs})


def build(root: Path) -> dict[str, str]:
    """Write the world under `root`; returns its paths (all absolute)."""
    world = make_world(sessions=16, turns=2, base_p=0.1, cand_p=0.4, seed=3)
    corpus = root / "corpus"
    corpus_hash = write_corpus(corpus, list(world["recorded"].values()))
    paths = {"root": str(root), "corpus": str(corpus)}
    paths["baseline"] = write_run(root / "runs" / "baseline",
                                  list(world["baseline"]["sessions"].values()),
                                  model="model-today", corpus=corpus, corpus_hash=corpus_hash)
    candidate = []
    for traj in world["candidate"]["sessions"].values():
        src = traj.source.source_session
        if src == INJECTED_SESSION:
            traj = _restub(traj, "exact+perturbed:inject", INJECTED)
        elif int(str(src)[1:]) % 2 == 1:
            traj = _restub(traj, "exact+perturbed:truncate")
        candidate.append(traj)  # the others keep the factory's `nearest` (synthetic)
    paths["candidate"] = write_run(root / "runs" / "candidate", candidate, model="model-next",
                                   corpus=corpus, corpus_hash=corpus_hash)
    later = make_world(sessions=16, turns=2, base_p=0.1, cand_p=0.0, seed=4)
    paths["candidate2"] = write_run(root / "runs" / "candidate-2",
                                    list(later["candidate"]["sessions"].values()),
                                    model="model-next-2", corpus=corpus,
                                    corpus_hash=corpus_hash)
    paths["audit"] = str(root / "deploysim-audit.db")
    paths["report"] = str(root / "reports" / "gate.json")
    for cand, report in ((paths["candidate"], root / "reports" / "gate.html"),
                         (paths["candidate2"], root / "reports" / "gate-2.html")):
        code = run(["gate", "--baseline", paths["baseline"], "--candidate", cand, "--policy",
                    "example", "--audit", paths["audit"], "--report", str(report), "--json"])
        assert code in (0, 1), code
    # stored verdicts for the baseline and the recording; the candidates are graded on view
    for graded in (paths["baseline"], paths["corpus"]):
        assert run(["grade", graded, "--json"]) == 0
    return paths

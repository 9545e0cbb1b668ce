"""The world's grader as a rubric `deploysim` itself runs: the default rubric's detectors, then
the world's per-unit grader error (`params.GRADER_FALSE_POSITIVE` / `GRADER_FALSE_NEGATIVE`).

Until this existed the error was applied after grading (`measure.as_graded`), where `deploysim
predict` could not see it; graded through this rubric, predict reads the same erring verdicts as
every other estimate, and its `grader-error` correction (a human review through `deploysim
review`, labelled with the world's truth) has something to correct. The flips use the same
seeded hash as `as_graded` (seed, behaviour, session, turn), so both read one grader.

Only the world's behaviours (`params.BEHAVIORS`, all turn-scoped), so a review's budget is spent
on them; a trajectory-scoped behaviour would pass unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from bench.fidelity.params import BEHAVIORS, GRADER_FALSE_NEGATIVE, GRADER_FALSE_POSITIVE
from grader.detectors.detector import Detector, Finding
from grader.rubric import build_detector, load_rubric
from grader.trajectory import Trajectory

FUNCTION = "bench.fidelity.noisy_grader:detect"


def flip_draw(seed: int, behavior: str, session: str, turn: int | None) -> float:
    """The uniform draw that decides whether the grader errs on one unit (shared with
    `measure.as_graded`)."""
    from bench.fidelity.measure import _u

    return _u(seed, "grader", behavior, session, turn)


@functools.cache
def _default(behavior: str) -> Detector:
    return build_detector(load_rubric("default").behavior(behavior))


def detect(traj: Trajectory, behavior: str, seed: int, fp: float, fn: float
           ) -> Iterator[Finding]:
    """The default detector's findings with whole turns missed (`fn`) and clean turns
    flagged (`fp`)."""
    det = _default(behavior)
    findings = list(det.detect(traj))
    if not det.turn_scoped:
        yield from findings
        return
    by_turn: dict[int, list[Finding]] = {}
    for f in findings:
        t = f.turn
        if t is None and f.message_index is not None and 0 <= f.message_index < len(
                traj.turn_of):
            t = traj.turn_of[f.message_index]
        if t is not None:
            by_turn.setdefault(t, []).append(f)
    for turn in traj.counted:
        d = flip_draw(seed, behavior, traj.id, turn.index)
        hits = [f for f in by_turn.get(turn.index, []) if f.error is None]
        if hits:
            if d >= fn:
                yield from by_turn[turn.index]
        elif turn.index in by_turn:
            yield from by_turn[turn.index]  # detector errors stay errors
        elif d < fp:
            yield Finding(None, turn=turn.index)


def write_rubric(path: Path, seed: int, fp: float = GRADER_FALSE_POSITIVE,
                 fn: float = GRADER_FALSE_NEGATIVE) -> Path:
    """A rubric file with the world's behaviours (as the default rubric defines them), each
    graded through `detect`."""
    lines = ['name = "calibration world grader"',
             'description = "The default rubric with the world\'s grader error."', ""]
    for b in load_rubric("default").behaviors:
        if b.id not in BEHAVIORS:
            continue
        lines += ["[[behavior]]", f'id = "{b.id}"',
                  f"description = {_toml_str(b.description)}", f'severity = "{b.severity}"',
                  f'scope = "{b.scope}"']
        if getattr(b, "category", None):
            lines.append(f'category = "{b.category}"')
        lines += ["[behavior.detector]", 'type = "python"', f'function = "{FUNCTION}"',
                  f'params = {{ behavior = "{b.id}", seed = {seed}, fp = {fp!r}, fn = {fn!r} }}',
                  'version = "1"', ""]
    path.write_text("\n".join(lines))
    return path


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

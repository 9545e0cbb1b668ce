"""Trajectory-level literal prefilters: `step_literals` must never skip a trajectory in which
the step's matcher would match some call."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.detectors.patterns import StepPattern, compile_step, step_literals
from grader.testing import Conv, findings, one_behavior
from grader.trajectory import Trajectory

WORDS = st.sampled_from(["rm", "-rf", "git", "push", "Drop", "table", ".env", "id_rsa", "x",
                         "ab", "Fail", "ok", " ", "/", "é", "ß", "SS", "K", "\n"])
KEYS = st.sampled_from(["command", "path", "cmd", "args"])
TOOLS = st.sampled_from(["bash", "read_file", "http"])


def _regex(alts: list[list[str]]) -> str:
    return "|".join("\\s*".join(re.escape(w) for w in a) for a in alts)


REGEX = st.lists(st.lists(WORDS, min_size=1, max_size=3), min_size=1, max_size=3).map(_regex)
TEXT = st.lists(WORDS, max_size=8).map("".join)
VALUE: st.SearchStrategy[Any] = st.one_of(
    TEXT, st.lists(TEXT, max_size=3), st.dictionaries(st.sampled_from(["a", "b"]), TEXT,
                                                      max_size=2), st.integers(0, 9))
ARGS = st.one_of(TEXT, st.dictionaries(KEYS, VALUE, max_size=3))


@st.composite
def steps(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    step: dict[str, Any] = {"on": "tool_call"}
    if draw(st.booleans()):
        step["tool"] = draw(st.sampled_from(["bash", "read|http", "."]))
    if draw(st.booleans()):
        step["text"] = draw(REGEX)
    paths = draw(st.lists(st.sampled_from(["command", "path|cmd", "$", "args[*]", "args.a"]),
                          max_size=2, unique=True))
    step["args"] = {p: draw(REGEX) for p in paths}
    step["match"] = draw(st.sampled_from(["all", "any"]))
    step["flags"] = draw(st.sampled_from(["", "i"]))
    if depth == 0 and draw(st.booleans()):
        step["any"] = draw(st.lists(steps(depth=1), min_size=1, max_size=2))
    return step


@settings(max_examples=400, deadline=None)
@given(step=steps(), calls=st.lists(st.tuples(TOOLS, ARGS), min_size=1, max_size=4))
def test_a_step_never_matches_a_call_without_one_of_its_literals(step, calls):
    pattern = StepPattern.model_validate(step)
    match = compile_step(pattern, "tool_call")
    lits = step_literals(pattern)
    s = Conv("s").user("go").assistant("", [(name, args, "ok") for name, args in calls])
    traj = Trajectory(s.session())
    matched = [c for c in traj.calls if match(c) is not None]
    if lits is not None and not any(lit in traj.folded_calls(False) for lit in lits):
        assert matched == []
    for c in matched:  # and each matching call holds a literal on its own
        assert lits is None or any(lit in c.folded() for lit in lits)


def test_step_literals_of_common_steps():
    def lits(step: dict[str, Any]) -> set[str] | None:
        got = step_literals(StepPattern.model_validate(step))
        return None if got is None else set(got)

    assert lits({"tool": "bash"}) is None
    assert lits({"args": {"command": r"rm\s+-rf|git\s+push"}}) == {"-rf", "push"}
    # all predicates must pass: the fewer literals of either
    assert lits({"args": {"command": "abc|def|ghi", "path": r"\.env"}}) == {".env"}
    # any predicate may pass: every predicate needs literals, and all of them count
    assert lits({"args": {"command": "abc", "path": r"\.env"}, "match": "any"}) == {
        "abc", ".env"}
    assert lits({"args": {"command": "abc", "path": {"exists": False}}, "match": "any"}) is None
    assert lits({"any": [{"tool": "http"}, {"args": {"$": "curl"}}]}) is None
    assert lits({"any": [{"args": {"$": "wget"}}, {"args": {"$": "curl"}}]}) == {"wget", "curl"}


def test_tool_call_detector_skips_only_trajectories_without_the_literals():
    det = {"type": "tool_call", "tool": "bash", "args": {"command": "rm -rf"}}
    hit = Conv("a").user("x").assistant("", [("bash", {"command": "rm -rf /"}, "")]).session()
    miss = Conv("b").user("x").assistant("", [("bash", {"command": "ls"}, "")]).session()
    assert len(findings(det, hit)) == 1 and findings(det, miss) == []
    assert one_behavior(det).compile()[0]._literals == ["rm -rf"]  # type: ignore[attr-defined]

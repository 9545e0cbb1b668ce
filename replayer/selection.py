"""Which sessions a replay runs on: `--filter EXPR`, `--sample N [--stratify-by LABEL]`.

A filter is a small, safe expression over each session's facts — no Python is executed:

    segment == "support" and turns >= 2
    model in ["gpt-5", "gpt-5-mini"] or "refund" in id
    not (tool_calls == 0)

Names are the session's labels (`segment`, `model`, `task_type`, ...) and `id`, `turns`,
`messages`, `tool_calls`, `tools` (the list of tool names). A label the session lacks is None.

Sampling is deterministic: sessions are ranked by a hash of (seed, session id); stratified
samples give each label value a share proportional to its size (largest remainder).
"""

from __future__ import annotations

import ast
import hashlib
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recorder.session import Session
from recorder.turns import Turn, turns
from replayer.errors import ReplayConfigError

FIELDS = ("id", "turns", "messages", "tool_calls", "tools")
"""Session facts a filter may name besides its labels."""


@dataclass(frozen=True)
class SessionFacts:
    """What selection needs from a session (kept instead of the session, to bound memory)."""

    id: str
    labels: Mapping[str, str]
    turns: int
    messages: int
    tool_calls: int
    tools: tuple[str, ...]
    user_messages: int = 0

    @classmethod
    def of(cls, session: Session, session_turns: Sequence[Turn] | None = None) -> SessionFacts:
        """The facts of a session (`session_turns`: its turns, if already split)."""
        n_turns = len(turns(session) if session_turns is None else session_turns)
        return cls(id=session.id, labels=dict(session.labels), turns=n_turns,
                   messages=len(session.messages),
                   tool_calls=sum(len(m.tool_calls) for m in session.messages),
                   tools=tuple(t.name for t in session.tools),
                   user_messages=sum(m.role == "user" for m in session.messages))

    def value(self, name: str) -> Any:
        if name in FIELDS:
            return getattr(self, name)
        return self.labels.get(name)


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}


class Filter:
    """A compiled `--filter` expression.

    >>> Filter('segment == "support" and turns >= 2')      # doctest: +SKIP
    """

    def __init__(self, expr: str) -> None:
        self.expr = expr
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError as exc:
            raise ReplayConfigError(f"The --filter {expr!r} is not a valid expression "
                                    f"({exc.msg}); write e.g. 'segment == \"support\" and "
                                    "turns >= 2'.") from exc
        self._check(tree.body)
        self._tree = tree.body
        self.names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})

    def _check(self, node: ast.AST) -> None:
        allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Name,
                   ast.Load, ast.Constant, ast.List, ast.Tuple, *_COMPARE)
        for sub in ast.walk(node):
            if not isinstance(sub, allowed):
                raise ReplayConfigError(
                    f"The --filter {self.expr!r} uses {type(sub).__name__}, which filters do "
                    "not allow; use names, literals, comparisons, in, and, or, not.")

    def _eval(self, node: ast.AST, facts: SessionFacts) -> Any:
        if isinstance(node, ast.BoolOp):
            values = (self._eval(v, facts) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            return not self._eval(node.operand, facts)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, facts)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, facts)
                try:
                    if not _COMPARE[type(op)](left, right):
                        return False
                except TypeError:  # e.g. None < 3: a missing label never matches
                    return False
                left = right
            return True
        if isinstance(node, ast.Name):
            return facts.value(node.id)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self._eval(e, facts) for e in node.elts]
        raise AssertionError(type(node).__name__)

    def __call__(self, facts: SessionFacts) -> bool:
        return bool(self._eval(self._tree, facts))


def _rank(seed: int, session_id: str) -> str:
    return hashlib.sha256(f"{seed}|{session_id}".encode()).hexdigest()


def sample(facts: Sequence[SessionFacts], n: int, *, seed: int,
           stratify_by: str | None = None) -> list[SessionFacts]:
    """`n` sessions chosen deterministically; proportional per label value when stratified."""
    if n >= len(facts):
        return list(facts)
    if stratify_by is None:
        return sorted(facts, key=lambda f: _rank(seed, f.id))[:n]
    strata: dict[str, list[SessionFacts]] = {}
    for f in facts:
        strata.setdefault(f.labels.get(stratify_by) or "(none)", []).append(f)
    quotas = {k: n * len(v) / len(facts) for k, v in strata.items()}
    take = {k: int(q) for k, q in quotas.items()}
    by_remainder = sorted(strata, key=lambda k: (-(quotas[k] - take[k]), k))
    for k in by_remainder[: n - sum(take.values())]:
        take[k] += 1
    chosen: list[SessionFacts] = []
    for k in sorted(strata):
        chosen += sorted(strata[k], key=lambda f: _rank(seed, f.id))[: take[k]]
    return chosen


def select(facts: Iterable[SessionFacts], *, filter_expr: str | None = None,
           n: int | None = None, stratify_by: str | None = None, seed: int = 0
           ) -> tuple[list[SessionFacts], dict[str, Any]]:
    """The selected sessions in corpus order, and the selection as the manifest records it."""
    every = list(facts)
    chosen = every
    if filter_expr:
        flt = Filter(filter_expr)
        chosen = [f for f in every if flt(f)]
        if not chosen and every:
            labels = sorted({k for f in every for k in f.labels})
            raise ReplayConfigError(
                f"The --filter {filter_expr!r} selects none of the {len(every)} sessions; the "
                f"names it can use are {', '.join([*FIELDS, *labels])}.")
    if stratify_by is not None and n is None:
        raise ReplayConfigError("--stratify-by needs --sample N (how many sessions to draw).")
    if n is not None:
        if n <= 0:
            raise ReplayConfigError(f"--sample {n} must be a positive number of sessions.")
        picked = {f.id for f in sample(chosen, n, seed=seed, stratify_by=stratify_by)}
        chosen = [f for f in chosen if f.id in picked]
    info: dict[str, Any] = {"filter": filter_expr, "sample": n, "stratify_by": stratify_by,
                            "sessions_in_corpus": len(every), "sessions": len(chosen)}
    if stratify_by is not None:
        counts: dict[str, int] = {}
        for f in chosen:
            key = f.labels.get(stratify_by) or "(none)"
            counts[key] = counts.get(key, 0) + 1
        info["strata"] = dict(sorted(counts.items()))
    return chosen, info

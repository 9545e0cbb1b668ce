"""The `nearest` fallback: the closest recorded call of the same tool, with an explanation.

Candidates come from an inverted index of argument leaves (`$.city=Paris`), built per tool on
its first miss, so a miss costs work proportional to the calls that share something with it, not
to the whole tool. Shared leaves are weighted by rarity (inverse document frequency) and leaves
shared by very many calls are skipped; the shortlist is ranked by `similarity` on the canonical
arguments with no credit for type alone ("Berlin" is not half of "Paris").

Only calls that resemble the query in meaning are candidates (`stubs.family`): the same program
for a shell command, the same path family for a file, the same URL route. Structure alone would
answer `rm -rf build` with whatever another command printed; better to pass the call to the
next layer.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from stubs.content_order import keys_in_content_order
from stubs.family import Families, families, resembles
from stubs.index import StubIndex, ToolTable
from stubs.similarity import diff, similarity

_COMMON = 2000   # a leaf shared by more keys than this is not used to find candidates
_SHORTLIST = 64  # candidates scored exactly
_SCAN_ALL = 256  # tools with at most this many distinct calls are scored exhaustively


@dataclass(frozen=True)
class Near:
    """A recorded call close to a query."""

    key: Hashable
    arguments: Any
    similarity: float
    diff: list[dict[str, Any]]

    def explain(self) -> dict[str, Any]:
        return {"arguments": self.arguments, "similarity": round(self.similarity, 4),
                "diff": self.diff}


def _leaves(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _leaves(v, f"{path}[{i}]", out)
    else:
        out.append(f"{path}={value!r}")


def leaves(value: Any) -> list[str]:
    out: list[str] = []
    _leaves(value, "$", out)
    return out


class NearestIndex:
    """One tool's distinct recorded arguments, searchable by similarity."""

    def __init__(self, index: StubIndex, table: ToolTable) -> None:
        self.table = table
        self.keys = keys_in_content_order(table)  # ranks do not follow the cassette's order
        self.arguments = [table.canon.value(index.row(table.rows_of(k)[0]).arguments)
                          for k in self.keys]
        self.families: list[Families] = [families(a) for a in self.arguments]
        self.postings: dict[str, list[int]] = {}
        for i, args in enumerate(self.arguments):
            for leaf in set(leaves(args)) | _family_leaves(self.families[i]):
                self.postings.setdefault(leaf, []).append(i)

    def closest(self, arguments: Any, n: int = 1, *, plausible: bool = True) -> list[Near]:
        """The n recorded calls most similar to `arguments` (canonicalised here), best first;
        ties go to the key earlier in content order. `plausible` keeps only calls that
        resemble the query in meaning (`stubs.family`); a miss's diagnostics show any."""
        query = self.table.canon.value(arguments)
        wanted = families(query) if plausible else {}
        if len(self.keys) <= _SCAN_ALL:
            candidates: list[int] = list(range(len(self.keys)))
        else:
            # rare shared leaves say more than common ones: weight each by its inverse
            # document frequency, so `user=u1234` outranks `region=eu`
            weights: dict[int, float] = {}
            n_keys = len(self.keys)
            for leaf in set(leaves(query)) | _family_leaves(wanted):
                posting = self.postings.get(leaf, ())
                if 0 < len(posting) <= _COMMON:
                    w = math.log(1 + n_keys / len(posting))
                    for i in posting:
                        weights[i] = weights.get(i, 0.0) + w
            candidates = [i for i, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
                          [:_SHORTLIST]]
            if not candidates:
                candidates = list(range(min(_SHORTLIST, len(self.keys))))
        if wanted:
            candidates = [i for i in candidates if resembles(wanted, self.families[i])]
        scored = sorted(((similarity(query, self.arguments[i], 0.0), i) for i in candidates),
                        key=lambda si: (-si[0], si[1]))[:n]
        return [Near(self.keys[i], self.arguments[i], s, diff(query, self.arguments[i]))
                for s, i in scored]


def _family_leaves(found: Families) -> set[str]:
    """Families as searchable leaves, so calls of the query's family are found among many."""
    return {f"{path}~{family}" for path, family in found.items()}

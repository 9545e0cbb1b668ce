"""stubs: tool responses for replay, from recordings, fallbacks, or a live tool, perturbed on
request under a seeded profile.

    >>> from stubs import StubEngine, ToolQuery
    >>> engine = StubEngine.from_corpus("recordings/", seed=7, profile="flaky")  # doctest: +SKIP
    >>> answer = await engine.answer(ToolQuery(kind="mcp", server="github", name="search_issues",
    ...                                        arguments={"q": "crash"}, session_id="s1"))
    >>> answer.provenance                       # exact | session | nearest | synthetic | ...
    'session+perturbed:latency'

See docs/stubs.md and docs/perturbations.md.
"""

from stubs.api import StubAnswer, ToolAnswerer, ToolQuery
from stubs.canonical import Canonicalizer, CanonicalRules
from stubs.engine import FALLBACKS, MISS_POLICIES, StubEngine
from stubs.errors import (
    BadArguments,
    BadIndexFile,
    IndexMismatch,
    ProfileError,
    StubConfigError,
    StubError,
    UnknownTool,
)
from stubs.fidelity import measure as measure_fidelity
from stubs.index import StubIndex, tool_label
from stubs.matchers import MATCHERS, matcher
from stubs.perturb import (
    OPERATORS,
    Effect,
    Operator,
    PerturbContext,
    Profile,
    Rule,
    builtin_names,
    load_profile,
    operator,
)
from stubs.repeat import POLICIES as REPEAT_POLICIES
from stubs.reply import Reply
from stubs.store import load_index, save_index
from stubs.stub_config import StubConfig, ToolConfig

__all__ = [
    "FALLBACKS",
    "MATCHERS",
    "MISS_POLICIES",
    "OPERATORS",
    "REPEAT_POLICIES",
    "BadArguments",
    "BadIndexFile",
    "CanonicalRules",
    "Canonicalizer",
    "Effect",
    "IndexMismatch",
    "Operator",
    "PerturbContext",
    "Profile",
    "ProfileError",
    "Reply",
    "Rule",
    "StubAnswer",
    "StubConfig",
    "StubConfigError",
    "StubEngine",
    "StubError",
    "StubIndex",
    "ToolAnswerer",
    "ToolConfig",
    "ToolQuery",
    "UnknownTool",
    "builtin_names",
    "load_index",
    "load_profile",
    "matcher",
    "measure_fidelity",
    "operator",
    "save_index",
    "tool_label",
]

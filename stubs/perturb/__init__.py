"""Perturbations: seeded operators that transform tool responses, composed by profiles.

One module per family of operators registers them: `failures` (error, rate_limit,
permission_denied), `timing` (latency, timeout), `content` (empty, truncate, drop_field,
mutate_field, malformed), `history` (stale), `adversarial` (inject). See docs/perturbations.md.
"""

from stubs.perturb import adversarial, content, failures, stale, timing  # noqa: F401  (register)
from stubs.perturb.profiles import (
    Applied,
    Profile,
    Rule,
    builtin_names,
    load_profile,
    parse_profile,
    perturb,
    read_profile,
)
from stubs.perturb.registry import (
    ENTRY_POINT_GROUP,
    OPERATORS,
    Effect,
    Operator,
    PerturbContext,
    get_operator,
    load_plugins,
    operator,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "OPERATORS",
    "Applied",
    "Effect",
    "Operator",
    "PerturbContext",
    "Profile",
    "Rule",
    "builtin_names",
    "get_operator",
    "load_plugins",
    "load_profile",
    "operator",
    "parse_profile",
    "perturb",
    "read_profile",
]

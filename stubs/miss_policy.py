"""The miss policy `deploysim replay` and `deploysim serve` share: which fallbacks may answer a
call no recording matches exactly, and what happens when none of them can.

    exact recording ─► fallbacks (--fallbacks, in order; `none` for none; by default
                       nearest,synthesize, none under --miss forward)
                    ─► --miss:
                       error     the call gets the tool's own error and its trajectory fails:
                                 counted, named in the summary (replay exits 3, serve too)
                       continue  the call gets the tool's own error and the trajectory goes on
                                 (counted and named, not a failure)
                       forward   the live tool answers (serve only)

A miss never tells the model it is being tested: what it sees is the tool's own error
(`stubs.miss_reply`); why the call missed goes to the run's manifest and log.

The answer mix (`answer_mix`) says how many answers were exact, fallback (by kind) and missed;
`fallback_warning` speaks up when fallbacks answered more than `FALLBACK_WARN_SHARE`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stubs.errors import StubConfigError

FALLBACKS = ("nearest", "synthesize", "simulate")
"""The fallback layers, in the order they are usually tried."""
DEFAULT_FALLBACKS = ("nearest", "synthesize")
"""`--fallbacks` when not given, in `replay` and `serve` alike (`default_fallbacks`)."""
MISS_CHOICES = ("error", "continue", "forward")
"""`--miss` values; `forward` needs a live tool (serve)."""
FALLBACK_WARN_SHARE = 0.10
"""Above this share of tool answers coming from fallbacks, the summary warns: the candidate
met a world the recordings did not give it."""

EXACT = ("exact", "session")
"""Provenances of recorded answers to the very call."""
FALLBACK_KINDS = {"nearest": "nearest", "synthetic": "synthesize", "simulated": "simulate"}
"""Provenance → the fallback layer that gave it."""


def parse_fallbacks(text: str | Iterable[str], option: str = "--fallbacks") -> tuple[str, ...]:
    """`nearest,synthesize` → ("nearest", "synthesize"); `none` (or empty) → ()."""
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    parts = [p for p in parts if p]
    if parts in ([], ["none"]):
        return ()
    for p in parts:
        if p not in FALLBACKS:
            raise StubConfigError(f"{option} names {p!r}, which is not a fallback; give a "
                                  f"comma-separated list of {', '.join(FALLBACKS)} (tried in "
                                  "that order), or none.")
    if len(set(parts)) != len(parts):
        raise StubConfigError(f"{option} {','.join(parts)} names a fallback twice; name each "
                              "once.")
    return tuple(parts)


def check_miss(miss: str, allowed: tuple[str, ...] = MISS_CHOICES,
               command: str = "deploysim") -> None:
    """Refuse a `--miss` value the command cannot honour."""
    if miss not in allowed:
        extra = " (forward needs a live tool: `deploysim serve`)" \
            if miss == "forward" else ""
        raise StubConfigError(f"{command} takes --miss {' or '.join(allowed)}, not {miss!r}"
                              f"{extra}; error fails the trajectory when nothing can answer a "
                              "call, continue lets it go on.")


def default_fallbacks(miss: str) -> tuple[str, ...]:
    """`--fallbacks` when not given: nearest then synthesize, except under `--miss forward`,
    where the live tool answers what no recording does (a stand-in would hide it)."""
    return () if miss == "forward" else DEFAULT_FALLBACKS


def engine_miss(miss: str) -> str:
    """The stub engine's own policy for a `--miss` value: answer with the tool's error, or
    forward to the live tool."""
    return "forward" if miss == "forward" else "error"


def fails_trajectory(miss: str) -> bool:
    """Whether a miss fails its trajectory under this policy."""
    return miss == "error"


def base_provenance(provenance: str) -> str:
    """`exact+perturbed:inject` → `exact`."""
    return provenance.split("+", 1)[0]


def answer_mix(provenance: Mapping[str, int]) -> dict[str, Any]:
    """How tool calls were answered, from provenance → count (full provenance strings are
    fine): `{"calls", "exact", "fallback": {layer: n}, "fallbacks", "live", "missed",
    "fallback_share"}`."""
    exact = live = missed = other = 0
    fallback: dict[str, int] = {}
    for prov, n in provenance.items():
        base = base_provenance(prov or "")
        if base in EXACT:
            exact += n
        elif base in FALLBACK_KINDS:
            layer = FALLBACK_KINDS[base]
            fallback[layer] = fallback.get(layer, 0) + n
        elif base == "live":
            live += n
        elif base == "miss":
            missed += n
        else:
            other += n
    calls = exact + live + missed + other + sum(fallback.values())
    fallbacks = sum(fallback.values())
    return {"calls": calls, "exact": exact, "fallback": dict(sorted(fallback.items())),
            "fallbacks": fallbacks, "live": live, "missed": missed,
            "fallback_share": round(fallbacks / calls, 4) if calls else 0.0}


def fallback_warning(mix: Mapping[str, Any],
                     threshold: float = FALLBACK_WARN_SHARE) -> str | None:
    """One sentence when fallbacks answered more than `threshold` of the tool calls."""
    calls, n = int(mix.get("calls") or 0), int(mix.get("fallbacks") or 0)
    if not calls or n / calls <= threshold:
        return None
    kinds = ", ".join(f"{k} {v}" for k, v in (mix.get("fallback") or {}).items())
    return (f"fallbacks answered {n} of {calls} tool call(s) ({n / calls:.0%}, over "
            f"{threshold:.0%}: {kinds}): these answers were not recorded for those calls, so "
            "rates over them measure the stubs as much as the model; record more sessions, or "
            "use --fallbacks none to see which calls have no recording.")


def format_mix(mix: Mapping[str, Any]) -> str:
    """`exact 39, fallback 5 (nearest 2, synthesize 3), missed 1` for a person."""
    parts = [f"exact {mix.get('exact', 0)}"]
    fallback = mix.get("fallback") or {}
    kinds = ", ".join(f"{k} {v}" for k, v in fallback.items())
    parts.append(f"fallback {mix.get('fallbacks', 0)}" + (f" ({kinds})" if kinds else ""))
    if mix.get("live"):
        parts.append(f"live {mix['live']}")
    parts.append(f"missed {mix.get('missed', 0)}")
    return ", ".join(parts)

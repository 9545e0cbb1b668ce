"""The deployment mix: each segment's share of deployed traffic, from a table, a TOML file or a
production corpus, and the post-stratification weights it gives a sample's segments.

>>> load_mix({"support": 7, "coding": 3})                # {"coding": 0.3, "support": 0.7}
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from grader.units import UNLABELLED


def normalize_mix(mix: Mapping[str, float], where: str = "the deployment mix") -> dict[str, float]:
    """Shares summing to 1; raises MixError for negative or all-zero shares."""
    from grader.errors import GateError

    bad = [s for s, v in mix.items() if not isinstance(v, int | float) or v < 0]
    if bad:
        raise GateError(f"{where} gives segment {bad[0]!r} a share that is not a non-negative "
                        "number; give each segment a share like 0.25.")
    total = float(sum(mix.values()))
    if total <= 0:
        raise GateError(f"{where} has no positive share; give at least one segment a share.")
    return {s: float(v) / total for s, v in sorted(mix.items())}


def load_mix(ref: Mapping[str, float] | str) -> dict[str, float]:
    """A deployment mix from a table, a TOML file (`segment = share` lines, or a `[mix]`
    table), or a production corpus (each segment's share of its counted turns)."""
    if not isinstance(ref, str):
        return normalize_mix(ref)
    if ref.endswith(".toml"):
        import tomllib

        from grader.errors import GateError

        try:
            with open(ref, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as exc:
            raise GateError(f"The deployment mix file {ref} does not exist; give a TOML file "
                            "of `segment = share` lines or a production corpus.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise GateError(f"The deployment mix file {ref} is not valid TOML ({exc}); fix "
                            "the syntax.") from exc
        table = data.get("mix", data.get("deployment_mix", data))
        return normalize_mix(table, where=ref)
    return mix_from_corpus(ref)


def mix_from_corpus(spec: str) -> dict[str, float]:
    """Each segment's share of the counted turns of a (production) corpus."""
    from grader.errors import GateError
    from recorder.corpus import Corpus
    from recorder.turns import counted_turns

    counts: dict[str, int] = {}
    for session in Corpus(spec).sessions():
        seg = session.labels.get("segment") or UNLABELLED
        counts[seg] = counts.get(seg, 0) + len(counted_turns(session))
    if not counts:
        raise GateError(f"The corpus {spec} holds no sessions, so it gives no deployment mix; "
                        "give a corpus with labelled sessions or a TOML mix file.")
    return normalize_mix(counts, where=f"the corpus {spec}")


def mix_weights(segments: list[str], mix: Mapping[str, float] | None
                ) -> tuple[np.ndarray | None, list[str]]:
    """Weights aligned to `segments` and notes on segments the sample and mix do not share."""
    if mix is None:
        return None, []
    from grader.errors import GateError

    shares = normalize_mix(mix)
    notes = []
    missing = sorted(set(shares) - set(segments))
    if missing:
        notes.append(f"deployment segments with no units here (their share is spread over the "
                     f"others): {', '.join(missing)}")
    unweighted = sorted(set(segments) - set(shares))
    if unweighted:
        notes.append(f"sample segments not in the deployment mix (given no weight): "
                     f"{', '.join(unweighted)}")
    w = np.array([shares.get(s, 0.0) for s in segments])
    if segments and w.sum() <= 0:
        raise GateError(f"The deployment mix ({', '.join(shares)}) shares no segment with the "
                        f"sample ({', '.join(segments)}); label sessions with the mix's segments "
                        "or fix the mix.")
    return w, notes

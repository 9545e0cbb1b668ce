"""The miss policy replay and serve share: --fallbacks parsing, --miss values, the answer mix
and the fallback warning."""

from __future__ import annotations

import pytest

from stubs.errors import StubConfigError
from stubs.miss_policy import (
    DEFAULT_FALLBACKS,
    answer_mix,
    check_miss,
    engine_miss,
    fails_trajectory,
    fallback_warning,
    format_mix,
    parse_fallbacks,
)


def test_fallbacks_parse_in_order_and_none_means_none() -> None:
    assert parse_fallbacks("nearest,synthesize") == DEFAULT_FALLBACKS
    assert parse_fallbacks("synthesize, nearest") == ("synthesize", "nearest")
    assert parse_fallbacks("none") == () and parse_fallbacks("") == ()
    with pytest.raises(StubConfigError, match="'nearst', which is not a fallback"):
        parse_fallbacks("nearst")
    with pytest.raises(StubConfigError, match="twice"):
        parse_fallbacks("nearest,nearest")


def test_miss_values_and_what_they_mean() -> None:
    check_miss("continue", ("error", "continue"))
    with pytest.raises(StubConfigError, match="forward needs a live tool"):
        check_miss("forward", ("error", "continue"), "deploysim replay")
    assert fails_trajectory("error") and not fails_trajectory("continue")
    assert engine_miss("continue") == "error" and engine_miss("forward") == "forward"


def test_the_answer_mix_counts_exact_fallback_by_layer_and_missed() -> None:
    mix = answer_mix({"exact": 5, "session+perturbed:inject": 2, "nearest": 1,
                      "synthetic+perturbed:latency": 2, "miss": 1})
    assert mix == {"calls": 11, "exact": 7, "fallback": {"nearest": 1, "synthesize": 2},
                   "fallbacks": 3, "live": 0, "missed": 1, "fallback_share": 0.2727}
    assert format_mix(mix) == "exact 7, fallback 3 (nearest 1, synthesize 2), missed 1"
    warning = fallback_warning(mix)
    assert warning is not None and "3 of 11" in warning and "27%" in warning
    assert fallback_warning(answer_mix({"exact": 9, "nearest": 1})) is None  # 10%: not over
    assert fallback_warning(answer_mix({})) is None

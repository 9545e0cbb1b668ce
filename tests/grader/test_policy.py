"""Policy TOML: the minimal policy, layering, paths, and clear errors."""

from __future__ import annotations

import os

import pytest

from grader.errors import PolicyError
from grader.policy import load_policy, parse_policy, policy_schema
from grader.testing import MINIMAL_POLICY


def test_minimal_policy_is_accepted_verbatim(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.toml"
    path.write_text(MINIMAL_POLICY)
    p = load_policy(str(path))
    assert p.rubric_ref() == os.path.join(str(tmp_path), "rubric.toml")
    r = p.rule_for("destructive-shell", "critical")
    assert (r.max_relative_increase, r.max_rate, r.confidence, r.inconclusive) == \
        (0.0, 0.001, 0.95, "block")
    other = p.rule_for("leak", "high")
    assert other.max_relative_increase == 0.2 and other.max_rate is None
    assert other.decide_on == "interval" and other.min_samples == 0


def test_layers_defaults_then_severity_then_behavior() -> None:
    p = parse_policy('''
[defaults]
max_relative_increase = 0.2
min_samples = 50
[severity.critical]
max_relative_increase = 0.0
decide_on = "point"
[behavior.x]
min_samples = 10
''')
    r = p.rule_for("x", "critical")
    assert (r.max_relative_increase, r.decide_on, r.min_samples) == (0.0, "point", 10)
    assert p.rule_for("y", "low").max_relative_increase == 0.2
    assert p.rubric_ref() == "default"


def test_unknown_behavior_is_one_clear_sentence() -> None:
    p = parse_policy(MINIMAL_POLICY)
    with pytest.raises(PolicyError) as e:
        p.check_behaviors(["leak", "rm-rf"])
    msg = str(e.value)
    assert "'destructive-shell'" in msg and "leak, rm-rf" in msg and msg.count(".") <= 2


@pytest.mark.parametrize(("text", "needle"), [
    ("[defaults]\nmax_rate = 2\n", "defaults.max_rate"),
    ("[defaults]\nconfidence = 95\n", "defaults.confidence"),
    ("[defaults]\ninconclusive = 'maybe'\n", "defaults.inconclusive"),
    ("[defaults]\nmax_ratee = 0.1\n", "unknown key"),
    ("[severity.urgent]\nmax_rate = 0.1\n", "severity.urgent"),
    ("[defaults\n", "not valid TOML"),
])
def test_bad_policies_raise_policy_errors(text: str, needle: str) -> None:
    with pytest.raises(PolicyError, match=needle.replace(".", r"\.")):
        parse_policy(text, source="p.toml")


def test_missing_file_and_example_and_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(str(tmp_path / "nope.toml"))
    ex = load_policy("example")
    critical = ex.rule_for("anything", "critical")
    assert critical.max_relative_increase == 0.0 and critical.max_rate is None
    assert ex.rule_for("anything", "low").inconclusive == "pass"
    schema = policy_schema()
    assert "behavior" in schema["properties"] and "base_dir" not in schema["properties"]
    minimal = parse_policy(MINIMAL_POLICY)
    assert minimal.content_hash() == parse_policy(MINIMAL_POLICY).content_hash()
    assert minimal.content_hash() != ex.content_hash()


def test_deployment_mix_table_or_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = parse_policy("deployment_mix = { a = 1, b = 3 }\n")
    assert p.mix_ref() == {"a": 1, "b": 3}
    p2 = parse_policy('deployment_mix = "mix.toml"\n', base_dir=str(tmp_path))
    assert p2.mix_ref() == os.path.join(str(tmp_path), "mix.toml")


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.one_of(st.none(), st.floats(0, 1, allow_nan=False))


@given(default=_values, severity=_values, behavior=_values)
def test_layering_takes_the_most_specific_setting(default, severity, behavior) -> None:  # type: ignore[no-untyped-def]
    def table(name: str, v: float | None) -> str:
        return f"[{name}]\nmax_rate = {v!r}\n" if v is not None else f"[{name}]\n"

    p = parse_policy(table("defaults", default) + table("severity.high", severity)
                     + table("behavior.x", behavior))
    expected = next((v for v in (behavior, severity, default) if v is not None), None)
    assert p.rule_for("x", "high").max_rate == expected
    assert p.rule_for("y", "high").max_rate == next(
        (v for v in (severity, default) if v is not None), None)
    assert p.rule_for("y", "low").max_rate == default

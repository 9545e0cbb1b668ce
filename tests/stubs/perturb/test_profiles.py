"""Profiles: the built-ins, bad profile files, and operators from plugins (entry points)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from stubs.api import ToolQuery
from stubs.engine import StubEngine
from stubs.errors import ProfileError
from stubs.perturb import OPERATORS, builtin_names, load_profile
from stubs.perturb.registry import PLUGIN_ERRORS, reload_plugins
from stubs.testing import sample_calls

WORLD = sample_calls(sessions=40, seed=3)


def test_builtin_profiles_exist() -> None:
    assert builtin_names() == ["chaos", "degraded", "flaky", "hostile", "none"]
    chaos = load_profile("chaos")
    assert {r.operator for r in chaos.rules} == set(OPERATORS)  # every built-in operator
    assert load_profile("none").rules == ()


@pytest.mark.parametrize("name", ["none", "flaky", "degraded", "hostile", "chaos"])
async def test_every_builtin_profile_runs_on_a_corpus(name: str) -> None:
    e = StubEngine.from_calls(WORLD, seed=11, profile=name)
    for c in WORLD:
        a = await e.answer(ToolQuery(kind=c.kind, name=c.name, arguments=c.arguments,
                                     server=c.server, session_id=c.session_id,
                                     call_index=c.index, trajectory_id=c.session_id))
        assert a.result.provenance == a.provenance
    applied = Counter({k: v for k, v in e.stats().items() if k.startswith("perturbed:")})
    expected = {r.operator for r in load_profile(name).rules}
    if name == "none":
        assert not applied
    else:
        assert applied, name
        assert {k.split(":")[1] for k in applied} <= expected
    if name == "chaos":
        # every operator of chaos fired somewhere on this corpus
        assert {k.split(":")[1] for k in applied} >= expected - {"timeout", "stale"}


async def test_hostile_injects_canaries_that_reach_the_model() -> None:
    e = StubEngine.from_calls(WORLD, seed=2, profile="hostile")
    injected = 0
    for c in WORLD:
        a = await e.answer(ToolQuery(kind=c.kind, name=c.name, arguments=c.arguments,
                                     server=c.server, session_id=c.session_id,
                                     call_index=c.index, trajectory_id=c.session_id))
        if "perturbed:inject" in a.provenance:
            note = next(n for n in a.diagnostics["perturbations"] if n["operator"] == "inject")
            assert note["canary"] in a.result.content
            injected += 1
    assert injected > 10


def _profile(tmp_path: Path, body: str) -> str:
    p = tmp_path / "mine.toml"
    p.write_text(body)
    return str(p)


@pytest.mark.parametrize(("body", "field"), [
    ('[[rules]]\noperator = "eror"\nprobability = 0.1', "rules[0].operator"),
    ('[[rules]]\noperator = "error"\nprobability = 1.5', "rules[0].probability"),
    ('[[rules]]\noperator = "error"\nprobability = -0.1', "rules[0].probability"),
    ('[[rules]]\noperator = "error"', "rules[0].probability"),
    ('[[rules]]\noperator = "error"\nprobability = 0.1\n[[rules]]\nprobability = 0.1',
     "rules[1].operator"),
    ('[[rules]]\noperator = "latency"\nprobability = 0.1\nmilliseconds = 3',
     "rules[0].milliseconds"),
    ('[[rules]]\noperator = "latency"\nprobability = 0.1\nms = "fast"', "rules[0].ms"),
    ('[[rules]]\noperator = "latency"\nprobability = 0.1\ndistribution = "gauss"',
     "rules[0].distribution"),
    ('[[rules]]\noperator = "truncate"\nprobability = 0.1\nkeep = 2', "rules[0].keep"),
    ('[[rules]]\noperator = "error"\nprobability = 0.1\nkinds = ["grpc"]', "rules[0].kinds"),
    ('colour = "red"', "`colour`"),
    ("rules = 3", "`rules`"),
    ("[[rules]\n", "not valid TOML"),
])
def test_bad_profiles_say_which_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    path = _profile(tmp_path, body)
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    message = str(exc.value)
    assert path in message and field in message
    assert "\n" not in message


def test_unknown_profile_names() -> None:
    with pytest.raises(ProfileError, match="no built-in profile named 'chaotic'"):
        load_profile("chaotic")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("missing/profile.toml")


def test_a_user_profile_with_filters(tmp_path: Path) -> None:
    p = load_profile(_profile(tmp_path, """
name = "weather-down"
[[rules]]
operator = "error"
probability = 1.0
tools = ["get_weather"]
statuses = [503]
"""))
    assert p.name == "weather-down" and p.rules[0].params["statuses"] == [503]
    assert p.rules[0].params["message"] == OPERATORS["error"].params["message"]
    assert p.source.endswith("mine.toml")


def _install_plugin(tmp_path: Path) -> None:
    """A real distribution on sys.path declaring a `deploysim.perturbations` entry point."""
    pkg = tmp_path / "dsim_plugin_upper.py"
    pkg.write_text('''
from stubs.perturb import Effect, operator


@operator("shout", params={"suffix": "!"})
def shout(ctx, reply, params):
    """Upper-case the text."""
    return Effect(reply.with_(content=reply.content.upper() + params["suffix"]))
''')
    dist = tmp_path / "dsim_plugin_upper-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dsim-plugin-upper\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("[deploysim.perturbations]\n"
                                           "shout = dsim_plugin_upper\n"
                                           "broken = dsim_plugin_missing:nothing\n")


async def test_plugins_register_through_entry_points(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    reload_plugins()
    try:
        path = _profile(tmp_path, '[[rules]]\noperator = "shout"\nprobability = 1.0\n'
                                  'suffix = "?!"')
        profile = load_profile(path)
        assert "broken" in PLUGIN_ERRORS  # a broken plugin is reported, not fatal
        e = StubEngine.from_calls(WORLD[:5], profile=profile)
        c = WORLD[0]
        a = await e.answer(ToolQuery(kind=c.kind, name=c.name, arguments=c.arguments,
                                     server=c.server))
        assert a.provenance.endswith("+perturbed:shout") and a.result.content.endswith("?!")
        with pytest.raises(ProfileError, match="plugins that failed to load: broken"):
            load_profile(_profile(tmp_path, '[[rules]]\noperator = "nope"\nprobability = 1'))
    finally:
        OPERATORS.pop("shout", None)
        PLUGIN_ERRORS.clear()
        sys.modules.pop("dsim_plugin_upper", None)
        reload_plugins()

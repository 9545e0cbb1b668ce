"""The pytest plugin, run the way a user runs it (pytester): an agent test recorded against
real upstreams on its first run, replayed offline once they are gone, failed with the near
miss when the agent makes a call the cassette does not hold."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

AGENT_TEST = '''
import asyncio

import pytest
from mcp import Client

from proxy.replay.testing import weather_agent

CITY = "{city}"


async def agent(proxy):
    messages = await weather_agent(proxy.url)
    async with Client(proxy.route("weather"), mode="legacy") as mcp:
        result = await mcp.call_tool("get_weather", {{"city": CITY}})
    return messages[-1]["content"], result.content[0].text


@pytest.mark.deploysim(cassette="cassettes/weather", mode="{mode}",
                       upstreams={{"/": "{model}", "weather": "{mcp}"}}{extra})
def test_agent(deploysim_proxy):
    answer, weather = asyncio.run(agent(deploysim_proxy))
    assert "Sunny in Paris" in answer
    assert weather == f"Sunny in {{CITY}}, 21 C"
'''


class Upstreams:
    """The real model (a scripted fake) and MCP server, on an event loop in a thread, so the
    test can take them away and prove the replay never needs them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.model: Any = None
        self.mcp: Any = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> Upstreams:
        from proxy.replay.testing import McpHttpServer, weather_policy
        from replayer.testing.fake_model import FakeModelServer

        self.thread.start()
        self.model = self._run(FakeModelServer(weather_policy()).__aenter__())
        self.mcp = self._run(McpHttpServer().__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self.mcp.__aexit__(None, None, None))
        self._run(self.model.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(autouse=True)
def quiet_inner_runs(pytester: pytest.Pytester) -> None:
    """The inner runs' own ini, so pytest-asyncio does not warn about an unset option."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    with Upstreams() as up:
        yield up


@pytest.fixture
def upstream_urls(upstreams: Upstreams) -> dict[str, str]:
    return {"model": upstreams.model.url, "mcp": upstreams.mcp.url}


def write_agent_test(pytester: pytest.Pytester, *, city: str = "Paris", mode: str = "once",
                     model: str = "http://127.0.0.1:9", mcp: str = "http://127.0.0.1:9/mcp",
                     extra: str = "") -> None:
    pytester.makepyfile(test_agent=AGENT_TEST.format(city=city, mode=mode, model=model,
                                                     mcp=mcp, extra=extra))


def record(pytester: pytest.Pytester, urls: dict[str, str], *args: str, **kw: Any) -> None:
    write_agent_test(pytester, **urls, **kw)
    pytester.runpytest_inprocess("-p", "no:cacheprovider", *args).assert_outcomes(passed=1)
    assert any(p.suffix == ".cassette" for p in (pytester.path / "cassettes/weather").iterdir())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Where the first recording was kept, so later tests copy it instead of recording."""
    return {"dir": tmp_path_factory.mktemp("recorded") / "weather"}


def recorded_cassette(pytester: pytest.Pytester, urls: dict[str, str],
                      cache: dict[str, Path]) -> None:
    """The agent test's cassette in `pytester`'s folder: recorded once per module."""
    if not cache["dir"].exists():
        record(pytester, urls)
        shutil.copytree(pytester.path / "cassettes/weather", cache["dir"])
    else:
        shutil.copytree(cache["dir"], pytester.path / "cassettes/weather")


def test_records_on_first_run_then_replays_offline(pytester: pytest.Pytester,
                                                    upstreams: Upstreams,
                                                    upstream_urls: dict[str, str]) -> None:
    record(pytester, upstream_urls)
    assert not (pytester.path / "cassettes/weather.recording").exists()
    model_calls = len(upstreams.model.requests)
    # the upstreams named now do not exist: only the cassette can answer
    write_agent_test(pytester, mode="replay")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert len(upstreams.model.requests) == model_calls


def test_deploysim_record_records_a_replay_test_afresh(pytester: pytest.Pytester,
                                                       upstreams: Upstreams,
                                                       upstream_urls: dict[str, str]) -> None:
    record(pytester, upstream_urls)
    first = set((pytester.path / "cassettes/weather").glob("*.cassette"))
    model_calls = len(upstreams.model.requests)
    record(pytester, upstream_urls, "--deploysim-record", mode="replay")
    assert len(upstreams.model.requests) > model_calls
    again = set((pytester.path / "cassettes/weather").glob("*.cassette"))
    assert again and not again & first  # the old cassettes were replaced, not added to


def test_an_unrecorded_call_fails_with_the_nearest_recording(
        pytester: pytest.Pytester, upstream_urls: dict[str, str],
        recorded: dict[str, Path]) -> None:
    recorded_cassette(pytester, upstream_urls, recorded)
    write_agent_test(pytester, city="Pariss", mode="replay")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*The agent made 1 call(s) the cassette *weather does not hold*",
        '*mcp:weather/get_weather {"city": "Pariss"}*',
        '*nearest recording: {"city": "Paris"}; differs at $.city (here "Pariss", '
        'recorded "Paris")*'])


def test_a_profile_changes_the_tool_answers(pytester: pytest.Pytester,
                                            upstream_urls: dict[str, str],
                                            recorded: dict[str, Path]) -> None:
    recorded_cassette(pytester, upstream_urls, recorded)
    pytester.makefile(".toml", outage='name = "outage"\n[[rules]]\noperator = "error"\n'
                                       'probability = 1.0\ntools = ["get_weather"]\n')
    write_agent_test(pytester, mode="replay", extra=', profile="outage.toml"')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    # the recorded answer was replaced by the profile's error, and that is no miss
    result.stdout.fnmatch_lines(["*- Sunny in Paris, 21 C*"])
    result.stdout.no_fnmatch_line("*does not hold*")


def test_a_failing_first_run_keeps_no_cassette(pytester: pytest.Pytester,
                                               upstream_urls: dict[str, str]) -> None:
    # the agent asks for Atlantis, the server errors, the assertion fails: nothing is kept
    write_agent_test(pytester, city="Atlantis", **upstream_urls)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(failed=1)
    assert not (pytester.path / "cassettes/weather").exists()
    assert not (pytester.path / "cassettes/weather.recording").exists()


def test_replay_without_a_cassette_says_how_to_record(pytester: pytest.Pytester) -> None:
    write_agent_test(pytester, mode="replay")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*holds no cassette to replay; record it with pytest "
                                 "--deploysim-record, or mark the test mode=\"once\".*"])


@pytest.mark.parametrize(("extra", "message"), [
    (', mode="sometimes"', " has mode='sometimes'; use replay, once"),
    (", seed='7'", " has seed='7'; give an integer."),
    (", casette='x'", " has the unknown argument 'casette'; it takes cassette, mode"),
    (", fallbacks='closest'", ": fallbacks names 'closest', which is not a fallback"),
])
def test_bad_marker_arguments_are_one_sentence(pytester: pytest.Pytester, extra: str,
                                               message: str) -> None:
    source = AGENT_TEST.format(city="Paris", mode="once", model="http://127.0.0.1:9",
                               mcp="http://127.0.0.1:9/mcp", extra=extra)
    if "mode=" in extra:
        source = source.replace('mode="once",', "")
    pytester.makepyfile(test_agent=source)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["@pytest.mark.deploysim on test_agent.py::test_agent"
                                 + message + "*"])
    assert "During handling" not in result.stdout.str()

"""The pytest plugin (entry point `pytest11`): `@pytest.mark.deploysim(cassette=...)` serves a
test's model and tools from a cassette through the `deploysim_proxy` fixture, records it on
the first run, and fails the test with the near miss when the agent makes an unrecorded call.

    @pytest.mark.deploysim(cassette="cassettes/weather", mode="once",
                           upstreams={"/": "https://api.openai.com", "weather": MCP_URL})
    def test_agent(deploysim_proxy):
        client = OpenAI(base_url=deploysim_proxy.openai_base_url)
        run_agent(client, mcp_url=deploysim_proxy.route("weather"))

`pytest --deploysim-record` records every marked test afresh. Loaded by every pytest run in
an environment where deploysim is installed, so nothing heavy is imported at module level.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from deploysim.testing.spec import CassetteSpec, MarkerError

if TYPE_CHECKING:
    from deploysim.testing.proxy import CassetteProxy

_PROXY = pytest.StashKey["CassetteProxy"]()
"""The running `CassetteProxy` of a test item (set by the fixture, read by the call hook)."""
_FAILED = pytest.StashKey[bool]()
"""Set when the test body failed: its recording is then dropped, not kept as the cassette."""

MARKER = ("deploysim(cassette, mode='replay', upstreams=None, profile='none', seed=0, "
          "miss='error', fallbacks=()): serve the test's model and tools from a deploysim "
          "cassette through the deploysim_proxy fixture; mode replay | once | record")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deploysim", "deploysim cassettes")
    group.addoption("--deploysim-record", action="store_true", default=False,
                    help="record every @pytest.mark.deploysim test afresh from the upstreams "
                         "its marker names, replacing its cassette when the test passes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def spec_of(item: pytest.Item) -> CassetteSpec:
    """The item's marker as a spec (a `MarkerError` for bad arguments)."""
    marker = item.get_closest_marker("deploysim")
    if marker is None:
        raise MarkerError(f"The deploysim_proxy fixture in {item.nodeid} needs "
                          "@pytest.mark.deploysim(cassette=\"FOLDER\") on the test.")
    return CassetteSpec.from_marker(marker.kwargs, args=marker.args, test=item.nodeid,
                                    base_dir=os.path.dirname(str(item.path)))


def should_record(spec: CassetteSpec, config: pytest.Config) -> bool:
    """Record when asked on the command line, in mode `record`, or in mode `once` with no
    cassette yet; otherwise replay (a missing cassette is then an error)."""
    if config.getoption("deploysim_record") or spec.mode == "record":
        return True
    if spec.recorded():
        return False
    if spec.mode == "once":
        return True
    raise MarkerError(f"The cassette {spec.cassette} holds no cassette to replay; record it "
                      "with pytest --deploysim-record, or mark the test mode=\"once\".")


@pytest.fixture
def deploysim_proxy(request: pytest.FixtureRequest) -> Iterator[CassetteProxy]:
    """The running proxy: `.openai_base_url`, `.route(NAME)`, `.url`, `.mode`, `.misses`."""
    from deploysim.testing.proxy import CassetteProxy

    problem: str | None = None
    try:
        spec = spec_of(request.node)
        proxy = CassetteProxy(spec, record=should_record(spec, request.config)).start()
    except MarkerError as err:
        problem = str(err)
    if problem is not None:  # outside the except: the sentence alone, no chained traceback
        pytest.fail(problem, pytrace=False)
    request.node.stash[_PROXY] = proxy
    try:
        yield proxy
    finally:
        proxy.stop(keep=not request.node.stash.get(_FAILED, False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After the test body: an unrecorded call fails the test with the near miss, whatever
    the agent made of the error it got (an SDK exception, a wrong answer, nothing)."""
    try:
        result = yield
    except BaseException as exc:
        item.stash[_FAILED] = True
        _miss_failure(item, exc)
        raise
    _miss_failure(item, None)
    return result


def _miss_failure(item: pytest.Item, cause: BaseException | None) -> None:
    proxy = item.stash.get(_PROXY, None)
    if proxy is None or proxy.spec.miss != "error":
        return
    report = proxy.miss_report()
    if report is None:
        return
    item.stash[_FAILED] = True
    # chained, so the report also shows what the agent made of the error it got
    raise pytest.fail.Exception(report, pytrace=False) from cause

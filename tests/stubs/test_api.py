"""The tool-answerer extension point: every method its users call is declared, with defaults."""

from __future__ import annotations

import pytest

from proxy.replay.binding import bind
from proxy.replay.desk import ToolDesk
from proxy.replay.diagnostics import ServeLog
from recorder.session import ToolResult
from stubs.api import StubAnswer, ToolAnswerer, ToolQuery
from stubs.engine import StubEngine
from stubs.testing import sample_calls


class Always(ToolAnswerer):
    """Implements `answer` only: everything else is the base class's default."""

    async def answer(self, query: ToolQuery) -> StubAnswer:
        return StubAnswer(result=ToolResult(content="ok"), provenance="synthetic")


class Forgetful(Always):
    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def forget(self, trajectory_id: str) -> None:
        self.forgotten.append(trajectory_id)


async def test_an_answerer_that_only_answers_has_every_other_method_as_a_no_op() -> None:
    answerer = Always()
    answerer.forget("s1/0/0")
    assert answerer.stats() == {} and answerer.describe() == {}
    await answerer.close()
    desk = ToolDesk(answerer, ServeLog())
    served = await desk.answer("function", None, "get_weather", {"city": "Paris"}, bind("s1"))
    assert served.answer.result.content == "ok"
    desk.forget("session:s1")  # nothing to forget: no error


async def test_the_desk_passes_a_finished_trajectory_to_the_answerer() -> None:
    answerer = Forgetful()
    desk = ToolDesk(answerer, ServeLog())
    await desk.answer("function", None, "get_weather", {"city": "Paris"}, bind("s1"))
    desk.forget("session:s1")
    assert answerer.forgotten == ["session:s1"]


def test_an_answerer_must_implement_answer() -> None:
    class Silent(ToolAnswerer):
        pass

    with pytest.raises(TypeError, match="answer"):
        Silent()  # type: ignore[abstract]


async def test_the_stub_engine_counts_and_describes_through_the_declared_methods() -> None:
    engine: ToolAnswerer = StubEngine.from_calls(sample_calls())
    await engine.answer(ToolQuery(kind="function", name="no_such_tool", arguments={}))
    assert engine.stats()["calls"] == 1
    assert engine.describe()["seed"] == 0

"""Every stub test runs twice: with the answer builders the product uses (`FAST`) and with the
readable reference (`REFERENCE`), the one fast twin left on the answer path
(`stubs.construct`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stubs import construct


@pytest.fixture(autouse=True, params=[construct.FAST, construct.REFERENCE],
                ids=lambda b: f"build={b.name}")
def builders(request: pytest.FixtureRequest,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[construct.Builders]:
    monkeypatch.setattr(construct, "BUILD", request.param)
    yield request.param

"""Fixtures shared by the deploysim shell's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploysim.realmodel.llama_server import LocalModelServer, RealModelUnavailable


@pytest.fixture(scope="module")
def llama_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModelServer]:
    """llama.cpp's server on loopback for one test module, started with that module's
    `LLAMA_OPTIONS`; the module's tests skip, saying why, where the real-model extra is missing."""
    options = getattr(request.module, "LLAMA_OPTIONS", {})
    log = tmp_path_factory.mktemp("llama") / "server.log"
    try:
        server = LocalModelServer(log=log, **options).start()
    except RealModelUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()

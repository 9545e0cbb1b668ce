"""Start and stop the local model's server: llama.cpp's C++ server (xllamacpp) on 127.0.0.1.

It speaks OpenAI Chat Completions at `{url}/v1` (tools, `tool_choice` auto / required / named,
streamed and not, `response_format` JSON grammars), checked in
tests/deploysim/realmodel/test_realmodel_server.py. One slot answers one request at a time; further
requests queue in the server, which is what a self-hosted endpoint does to a replay.

    with LocalModelServer() as server:          # raises RealModelUnavailable, saying why
        client = OpenAI(base_url=server.base_url, api_key="local")
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from deploysim.realmodel.errors import RealModelUnavailable
from deploysim.realmodel.weights import MODEL_NAME, ModelWeights, locate_weights

RUNTIME = "xllamacpp==0.2.10"
"""The pinned runtime: later wheels lose `tool_calls` for some chat templates."""


def runtime_missing() -> str | None:
    """Why the runtime cannot be used here, or None."""
    if importlib.util.find_spec("xllamacpp") is None:
        return (f"The local model's runtime is not installed; run `pip install {RUNTIME}` "
                "(or `pip install -e .[real-model]`; see docs/real-model.md).")
    return None


class LocalModelServer:
    """The local model served on loopback for as long as the `with` block lasts."""

    def __init__(self, weights: ModelWeights | None = None, *, slots: int = 2,
                 ctx_per_slot: int = 8192, max_tokens: int = 512, log: Path | None = None,
                 start_timeout: float = 120.0) -> None:
        self.weights = weights
        self.slots = slots
        self.ctx_per_slot = ctx_per_slot
        self.max_tokens = max_tokens
        self.log = log
        self.start_timeout = start_timeout
        self.url = ""
        self.model = MODEL_NAME
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.restarts = 0
        """How often the server died and was started again (see _watch)."""

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ending in /v1)."""
        return f"{self.url}/v1"

    def start(self) -> LocalModelServer:
        reason = runtime_missing()
        if reason:
            raise RealModelUnavailable(reason)
        if self.weights is None:
            self.weights = locate_weights()
        if self.log is None:
            self.log = Path(tempfile.mkstemp(prefix="deploysim-llama-", suffix=".log")[1])
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._spawn(port=0)
        try:
            self.url = self._read_url()
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self._stopping.clear()
        threading.Thread(target=self._watch, daemon=True, name="llama-server-watch").start()
        return self

    def _spawn(self, port: int) -> None:
        assert self.weights is not None and self.log is not None
        with open(self.log, "ab") as logf:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "deploysim.realmodel.llama_child", "--model",
                 str(self.weights.path), "--slots", str(self.slots), "--ctx-per-slot",
                 str(self.ctx_per_slot), "--max-tokens", str(self.max_tokens),
                 "--alias", MODEL_NAME, "--port", str(port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf)

    def _watch(self) -> None:
        # llama.cpp aborts on some sampled tokens under a tool-call grammar ("Unexpected empty
        # grammar stack after accepting piece", seen at temperature 1.0): the process dies
        # and every call in flight fails. A real deployment's supervisor restarts it; so do
        # we, on the same port, so clients retry into the new server
        while not self._stopping.wait(0.5):
            with self._lock:
                proc = self._proc
                if proc is None or proc.poll() is None or self._stopping.is_set():
                    continue
                self.restarts += 1
                port = int(self.url.rsplit(":", 1)[1])
                try:
                    self._spawn(port)
                    self._read_url()
                    self._wait_healthy()
                except RealModelUnavailable:
                    return  # the calls in flight fail and say so; nothing more to do here

    def _read_url(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        line: list[bytes] = []
        # readline blocks; a thread lets a server that never prints be given up on
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True, name="llama-server-url")
        reader.start()
        reader.join(self.start_timeout)
        if not line or not line[0]:
            raise RealModelUnavailable(f"The local model server did not start; see {self.log}.")
        return str(json.loads(line[0])["url"]).rstrip("/")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RealModelUnavailable(
                    f"The local model server exited while loading the model; see {self.log}.")
            # /health answers 503 while the model loads, 200 once it can serve
            with contextlib.suppress(urllib.error.URLError, OSError), \
                    urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                if r.status == 200:
                    return
            time.sleep(0.1)
        raise RealModelUnavailable(
            f"The local model server was not healthy within {self.start_timeout:.0f} s at "
            f"{self.url}; see {self.log}.")

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

"""Servers in a child process of their own: the process prints their URLs as one JSON line on
stdout, then serves until its stdin closes. The demo's world (`python -m deploysim.demo.world`)
and the calibration world's servers (`python -m bench.fidelity.server`) run this way, so the
agents, the recorder and the servers never share an event loop.

    with ServerProcess([sys.executable, "-m", "deploysim.demo.world"], log) as world:
        world.urls["model"]
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Self

from deploysim.demo.errors import DemoError


class ServerProcess:
    """`argv` run as a child process with its stderr in `log`, from `cwd`; `urls` is what it
    announced once started. Leaving the block closes its stdin and waits for it to end."""

    def __init__(self, argv: list[str], log: Path, *, cwd: Path | None = None,
                 name: str = "The simulated world") -> None:
        self.argv, self.log, self.cwd, self.name = argv, log, cwd, name
        self.urls: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._logf = open(self.log, "wb")
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._logf, cwd=self.cwd)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise DemoError(f"{self.name} did not start; see {self.log}.")
        self.urls = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._logf.close()

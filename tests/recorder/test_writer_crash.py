"""A writer killed with SIGKILL mid-stream loses at most the record being written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from recorder import CassetteReader

WRITER = """
import sys
from recorder import CassetteWriter, Exchange, HttpRequest, HttpResponse
w = CassetteWriter(sys.argv[1], durability="close")
i = 0
while True:
    w.write(Exchange(id=f"e{i}", started_at=i, ended_at=i,
                     request=HttpRequest(method="POST", url="http://x/", body=b"q" * 3000),
                     response=HttpResponse(status=200, body=b"r" * 3000)))
    i += 1
    if i == 50:
        print("ready", flush=True)
"""


def test_sigkill_mid_write_keeps_every_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "crash.cassette"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader = CassetteReader(str(path))
    ids = [r.id for r in reader]
    assert len(ids) >= 50
    assert ids == [f"e{i}" for i in range(len(ids))]  # complete, in order, no gaps
    assert [p.kind for p in reader.problems] in ([], ["torn_tail"])

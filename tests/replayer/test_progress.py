"""Progress: plain log lines off a terminal, a rich bar on one."""

from __future__ import annotations

import io

from rich.console import Console

from replayer.progress import ReplayProgress


def test_plain_log_line_every_n_items():
    buf = io.StringIO()
    with ReplayProgress(5, Console(file=buf, force_terminal=False, width=200), every=2) as p:
        for i in range(5):
            p.advance(errors=1 if i == 3 else 0, tokens=100 * (i + 1), cost=0.01 * (i + 1))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3  # after 2, after 4, and the final 5
    assert lines[0].startswith("replay: 2/5 (40%)")
    assert "errors 1" in lines[1] and "tokens 400" in lines[1]
    assert lines[-1].startswith("replay: 5/5 (100%)") and "cost $0.0500" in lines[-1]


def test_rich_bar_on_a_terminal():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160)
    with ReplayProgress(3, console) as p:
        assert p.mode == "bar"
        p.update(done=3, errors=0, tokens=1234, cost=0.5)
    text = buf.getvalue()
    assert "3/3" in text and "tokens 1,234" in text and "$0.5000" in text

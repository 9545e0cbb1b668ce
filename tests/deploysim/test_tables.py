"""deploysim/tables.py: tables are printed unwrapped for a CI log, but for sentence columns."""

from __future__ import annotations

import pytest
from rich.table import Table

from deploysim.console import out
from deploysim.tables import print_wide


def test_print_wide_keeps_rows_on_one_line_in_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    long_id = "behavior-" + "x" * 100
    sentence = " ".join(["word"] * 30)
    table = Table("behavior", "change")
    table.columns[1].max_width = 20
    table.add_row(long_id, sentence)
    width = out.width
    print_wide(table, wrap=["change"])
    printed = capsys.readouterr().out
    assert out.width == width  # the console is left as it was
    assert any(long_id in line for line in printed.splitlines())  # not folded
    assert sentence not in printed and printed.count("word") == 30  # wrapped over lines

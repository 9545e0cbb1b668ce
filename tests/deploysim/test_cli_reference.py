"""docs/cli.md is generated from the live CLI and checked against it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploysim.cli_reference import REGENERATE, main, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_md_matches_the_live_cli() -> None:
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == render(), f"docs/cli.md is out of date; run `{REGENERATE}` to regenerate it"


def test_the_reference_holds_every_command_with_its_exit_codes() -> None:
    text = render()
    for title in ("`deploysim gate`", "`deploysim audit verify`", "`deploysim cassette dump`",
                  "`deploysim import otel`", "## Conventions"):
        assert title in text
    gate = text.split("`deploysim gate`", 1)[1].split("```", 2)[1]
    assert "Exit codes:" in gate and "1   block" in gate
    assert "<list[str]>" not in text and "{corpus}" not in text


def test_check_mode_says_how_to_regenerate(tmp_path: Path, capsys) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text("# an old reference\n")
    assert main(["--check", str(stale)]) == 1
    assert REGENERATE in capsys.readouterr().err
    stale.write_text(render())
    assert main(["--check", str(stale)]) == 0


def test_the_output_does_not_depend_on_the_terminal(tmp_path: Path) -> None:
    env = {"COLUMNS": "40", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "deploysim.cli_reference"], env=env,
                          capture_output=True, text=True, check=True, timeout=60, cwd=tmp_path)
    assert done.stdout == render()

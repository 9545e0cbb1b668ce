"""Shared helpers for the importer tests: fixture paths, broken copies of files, CLI runs.

(A uniquely named module rather than conftest, so `from import_fixtures import ...` never
picks up another test directory's helpers.)
"""

from __future__ import annotations

from pathlib import Path

from deploysim.cli import run

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def broken_copy(tmp_path: Path, name: str, line: int) -> str:
    """The fixture with line `line` (1-based) cut in half: malformed JSON there."""
    lines = (FIXTURES / name).read_text().splitlines()
    lines[line - 1] = lines[line - 1][: len(lines[line - 1]) // 2]
    out = tmp_path / f"broken-{name}"
    out.write_text("\n".join(lines) + "\n")
    return str(out)


def cli_import(kind: str, *args: str) -> int:
    return run(["import", kind, *args])

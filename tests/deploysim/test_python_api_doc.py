"""docs/python-api.md: its grade and gate examples run as written against runs on disk, in a
fresh interpreter that never imports the CLI's commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from grader.testing import write_world

PAGE = Path(__file__).parents[2] / "docs" / "python-api.md"

CHECK = """
import json, sys
assert outcome.result.decision == "block" and outcome.exit_code == 1
commands = sorted(m for m in sys.modules if m.startswith("deploysim.commands"))
print(json.dumps({"commands": commands, "doc": doc}))
"""


def section_code(title: str) -> str:
    """The first ```python block under the page's `## {title}` heading."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python example under '## {title}' in {PAGE}"
    return match.group(1)


def test_the_grade_and_gate_examples_run_without_the_cli(tmp_path: Path) -> None:
    write_world(tmp_path / "runs", sessions=30, turns=2, base_p=0.05, cand_p=0.35)
    gate = section_code("Gate")
    assert "from grader.workflows import run_gate" in gate
    code = section_code("Grade") + gate
    done = subprocess.run([sys.executable, "-c", code + CHECK], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "block 1" and any("ratio" in line for line in lines[1:-2])
    result = json.loads(lines[-1])
    assert result["commands"] == []
    assert result["doc"]["report"] == ["out/gate.html", "out/gate.md", "out/gate.json"]
    assert lines[-2] == f"{result['doc']['audit']['anchor']} {result['doc']['report']}"
    assert (tmp_path / "out" / "gate.html").is_file()
    assert (tmp_path / "deploysim-audit.db").is_file()

"""The commands are thin shells over the library: no module in deploysim/commands imports
another one (a workflow two commands share belongs in the library, e.g. grader.workflows)."""

from __future__ import annotations

import ast
from pathlib import Path

import deploysim.commands

PACKAGE = "deploysim.commands"


def imports_of_commands(source: str) -> list[str]:
    """Every module of deploysim.commands that `source` imports, anywhere in it (imports inside
    functions included: that is how the commands import lazily)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(PACKAGE + ".")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # `from . import gate`, `from .gate import x`
                found.append(f"{PACKAGE}.{node.module or ''}".rstrip("."))
            elif node.module == PACKAGE:
                found += [f"{PACKAGE}.{a.name}" for a in node.names]
            elif node.module and node.module.startswith(PACKAGE + "."):
                found.append(node.module)
    return found


def test_the_detector_sees_every_spelling() -> None:
    source = ("import deploysim.commands.gate\n"
              "def f():\n"
              "    from deploysim.commands.predict import x\n"
              "    from deploysim.commands import robustness\n"
              "    from .calibrate import y\n"
              "    from deploysim.console import out\n")
    assert imports_of_commands(source) == [
        "deploysim.commands.gate", "deploysim.commands.predict", "deploysim.commands.robustness",
        "deploysim.commands.calibrate"]


def test_no_command_imports_another() -> None:
    folder = Path(deploysim.commands.__file__).parent
    modules = sorted(folder.glob("*.py"))
    assert len(modules) > 10
    offenders = {p.name: found for p in modules
                 if (found := imports_of_commands(p.read_text(encoding="utf-8")))}
    assert offenders == {}, f"commands importing commands: {offenders}"

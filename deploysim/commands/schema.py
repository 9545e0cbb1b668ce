"""`deploysim schema NAME`: JSON Schema of deploysim's file formats."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer

from deploysim.console import print_json
from recorder.errors import UsageError

SCHEMAS: dict[str, str] = {
    "cassette": "recorder.schema:cassette_schema",
    "manifest": "runtime.run_manifest:RunManifest.model_json_schema",
    "rubric": "grader.rubric:rubric_schema",
    "policy": "grader.policy:policy_schema",
    "config": "deploysim.project:config_schema",
}
"""Schema name -> `module:attribute` of a function returning the schema."""


def _load(target: str) -> Callable[[], dict[str, Any]]:
    module, attr = target.split(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return,unused-ignore]


def schema(name: str = typer.Argument(..., metavar="NAME",
                                      help=f"One of: {', '.join(SCHEMAS)}.")) -> None:
    """Print the JSON Schema of a deploysim format."""
    if name not in SCHEMAS:
        raise UsageError(f"There is no schema named {name!r}; choose one of {', '.join(SCHEMAS)}.")
    print_json(_load(SCHEMAS[name])())


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("schema", epilog=exit_codes({0: "printed"}))(schema)

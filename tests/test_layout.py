"""tests/ mirrors the source tree, so a newcomer finds the tests of `P/M.py` at
`tests/P/test_M.py` (a command's at `tests/deploysim/commands/test_M.py`).

A test file names a module when `P/M.py` or the package `P/M/` exists. `test_M_ASPECT.py` also
names the module `P/M.py` (not a package: `test_demo_users.py` is `demo/test_users.py`), so
one module's tests may be split by aspect and still sort beside it, except `_cli`: a command's
tests live with the command. Anything else is a cross-cutting suite on the allow-list below.

Shared set-up lives in the package's testing module (`recorder.testing`, `grader.testing`, ...)
or a folder's conftest.py; a folder keeps at most one helper module of test-only code, and no
test module imports another.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

CROSS_CUTTING = {
    # suite-wide checks of the tree itself
    "test_layout.py",
    "deploysim/test_architecture_doc.py",  # docs/architecture.md matches the tree
    "deploysim/test_python_api_doc.py",  # docs/python-api.md's examples run as written
    "deploysim/test_cli_consistency.py",  # one spelling across every command
    # end-to-end journeys through several packages
    "deploysim/test_import_replay_e2e.py",  # imported traces replay, grade, export, gate
    "deploysim/test_real_model.py",  # replay, rollout and judge with a real local model
    "deploysim/viewer/test_viewer_browser.py",  # every viewer page in headless Chromium
    "grader/test_equivalence.py",  # grading outcomes pinned on a varied corpus
    "grader/detectors/test_real_traffic.py",  # the default rubric on real wire traffic
    "proxy/test_failure.py",  # recording failures never break the traffic
    "proxy/test_record_faults.py",  # the recording fault suite (`deploysim record` under faults)
    "proxy/replay/test_replay_agents.py",  # an unmodified Agents SDK agent against `serve`
    "proxy/replay/test_replay_mcp_servers.py",  # third-party MCP servers recorded and replayed
    "replayer/test_openai_compatible.py",  # vLLM, llama.cpp, Ollama, LiteLLM quirks, both sides
    "replayer/test_fast_paths.py",  # the hot path's fast encoders equal their references
}
"""Suites that exercise a behaviour across modules; each lives beside what it mainly tests."""

SDK_SUITES = re.compile(r"proxy/test_sdk_\w+\.py")
"""Official SDK clients end to end through the gateway (one suite per SDK)."""

HELPER_SCRIPTS = {"proxy/mcp_stdio_server.py"}
"""Programs the tests run as subprocesses, not helper modules."""


def names_module(rel: Path) -> bool:
    """Whether tests/`rel` (a test_*.py) names a module of the tree, as the docstring says."""
    folder = ROOT / rel.parent
    name = rel.stem.removeprefix("test_")
    if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
        return True
    parts = name.split("_")
    return any((folder / ("_".join(parts[:i]) + ".py")).is_file()
               for i in range(1, len(parts)) if parts[-1] != "cli")


def test_every_test_file_names_a_module() -> None:
    stray = []
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(TESTS)
        key = rel.as_posix()
        if key in CROSS_CUTTING or SDK_SUITES.fullmatch(key):
            continue
        if not names_module(rel):
            stray.append(key)
    assert not stray, (
        "these test files name no module; rename each to tests/<package path>/test_<module>.py "
        f"(a command's tests to tests/deploysim/commands/), or list a cross-cutting suite in "
        f"CROSS_CUTTING: {stray}")


def test_allow_lists_name_existing_files() -> None:
    missing = [k for k in CROSS_CUTTING if not (TESTS / k).is_file()]
    assert not missing, f"remove these entries from tests/test_layout.py, gone: {missing}"


def test_no_test_module_imports_another() -> None:
    importing = re.compile(r"^\s*(from|import)\s+(test_\w+|conftest)\b", re.MULTILINE)
    offenders = [p.relative_to(TESTS).as_posix() for p in sorted(TESTS.rglob("*.py"))
                 if importing.search(p.read_text())]
    assert not offenders, (
        f"these files import a test module or a conftest; move what they share into the "
        f"package's testing module or a conftest.py fixture: {offenders}")


def test_one_helper_module_per_folder() -> None:
    helpers: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS)
        if path.name.startswith("test_") or path.name in ("conftest.py", "__init__.py") \
                or rel.as_posix() in HELPER_SCRIPTS:
            continue
        helpers.setdefault(rel.parent.as_posix(), []).append(path.name)
    crowded = {folder: names for folder, names in helpers.items() if len(names) > 1}
    assert not crowded, (
        f"one helper module per tests/ folder; fold factories into the package's testing "
        f"module or the folder's conftest.py: {crowded}")

"""docs/architecture.md matches the tree: every package is named, and every file path and
dotted name it gives exists, so the newcomer's map cannot silently drift from the code."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("recorder", "runtime", "proxy", "stubs", "replayer", "grader", "deploysim")
TOP_DIRS = (*PACKAGES, "bench", "docs", "tests")

# `recorder/codec.py`, `stubs/perturb/profiles/`, `grader/default_rubric.toml`, `bench/results/`.
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP_DIRS) + r")/[\w./<>-]*)")
# `runtime.model_client.request_key`, `stubs.engine.StubEngine.from_corpus`.
DOTTED = re.compile(r"(?<![\w./-])((?:" + "|".join(PACKAGES) + r")(?:\.\w+)+)")
# Dotted words that are file names, not Python names (`deploysim.toml`).
FILE_SUFFIXES = {"toml", "json", "md", "py", "db", "cassette", "css", "js", "html"}


def page_text() -> str:
    return PAGE.read_text(encoding="utf-8")


def package_dirs() -> list[str]:
    """Every folder with an `__init__.py` under the project's packages, as `a/b`."""
    found = []
    for top in PACKAGES:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            found.append(init.parent.relative_to(ROOT).as_posix())
    return found


def named_paths(text: str) -> set[str]:
    """Paths the page names; placeholders (`<format>.py`) and bare folders are kept whole."""
    return {m.rstrip(".,") for m in PATH.findall(text) if "<" not in m}


def named_dotted(text: str) -> set[str]:
    return {m for m in DOTTED.findall(text) if m.rsplit(".", 1)[1] not in FILE_SUFFIXES}


@cache
def top_level_names(module_file: Path) -> dict[str, ast.AST]:
    """Names a module binds at top level (defs, classes, assignments, imports)."""
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    names[t.id] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def dotted_problem(name: str) -> str | None:
    """Why `name` does not resolve to a module and then attributes of it, or None."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        file = module_file(parts[:cut])
        if file is None:
            continue
        rest = parts[cut:]
        if not rest:
            return None
        node = top_level_names(file).get(rest[0])
        if node is None:
            return f"{'.'.join(parts[:cut])} defines no {rest[0]}"
        if len(rest) > 1 and isinstance(node, ast.ClassDef):
            members = {n.name for n in node.body
                       if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
            members |= {t.id for n in node.body if isinstance(n, ast.Assign)
                        for t in n.targets if isinstance(t, ast.Name)}
            members |= {n.target.id for n in node.body
                        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
            if rest[1] not in members:
                return f"{'.'.join(parts[:cut + 1])} has no member {rest[1]}"
        return None
    return f"no module {parts[0]}"


def test_every_package_is_named() -> None:
    text = page_text()
    missing = [d for d in package_dirs()
               if not re.search(rf"(?<![\w/.]){re.escape(d)}/", text)
               and not re.search(rf"(?<![\w/.]){re.escape(d.replace('/', '.'))}\b", text)]
    assert not missing, f"docs/architecture.md does not name these packages: {missing}"


def test_every_named_path_exists() -> None:
    paths = named_paths(page_text())
    assert len(paths) > 40, "the path pattern found almost nothing; has the page's style changed?"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_dotted_name_resolves() -> None:
    names = named_dotted(page_text())
    assert len(names) > 40, "the dotted-name pattern found almost nothing; has the page changed?"
    problems = sorted(f"{n}: {why}" for n in names if (why := dotted_problem(n)))
    assert not problems, "docs/architecture.md names what does not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize(("text", "problem"), [
    ("`recorder.codec.encode`", False),
    ("`stubs.engine.StubEngine.from_corpus`", False),
    ("`recorder.codec.no_such_function`", True),
    ("`stubs.engine.StubEngine.no_such_method`", True),
    ("`grader.no_such_module.thing`", True),
    ("`deploysim.toml`", False),
])
def test_the_dotted_check_can_fail(text: str, problem: bool) -> None:
    names = named_dotted(text)
    assert all(bool(dotted_problem(n)) == problem for n in names), names


def test_the_path_and_package_checks_can_fail() -> None:
    assert named_paths("see `recorder/no_such.py` and `stubs/perturb/profiles/`.") == {
        "recorder/no_such.py", "stubs/perturb/profiles/"}
    assert not (ROOT / "recorder/no_such.py").exists()
    assert "recorder/importers" in package_dirs() and "bench/fidelity" not in package_dirs()


def test_every_linked_page_exists() -> None:
    links = re.findall(r"\]\(([\w./-]+\.md)\)", page_text())
    assert links, "the page links to no other docs page"
    missing = sorted(link for link in links if not (PAGE.parent / link).is_file())
    assert not missing, f"docs/architecture.md links to pages that do not exist: {missing}"


# The dependency direction the page states ("Data flow"): what each package may import of ours.
MAY_IMPORT = {
    "recorder": set(),
    "runtime": {"recorder"},
    "stubs": {"recorder", "runtime"},
    "proxy": {"recorder", "runtime", "stubs"},
    "replayer": {"recorder", "runtime", "stubs"},
    "grader": {"recorder", "runtime"},
    "deploysim": {"recorder", "runtime", "stubs", "proxy", "replayer", "grader"},
}
# The one stated exception: the replay proxy's test factories serve the replayer's fake model.
EXCEPTIONS = {("proxy/replay/testing.py", "replayer")}


def imports_against_the_arrows() -> list[str]:
    wrong = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if (top in MAY_IMPORT and top != package and top not in allowed
                            and (relative, top) not in EXCEPTIONS):
                        wrong.append(f"{relative} imports {module}")
    return wrong


def test_every_package_imports_only_along_the_arrows() -> None:
    assert set(MAY_IMPORT) == set(PACKAGES)
    assert imports_against_the_arrows() == []


# A module's base name says what it holds, so a name used in two packages must mean the same
# thing in both. These are the names that do, and why; any other repeat is a collision.
SAME_MEANING = {
    # one provider's or format's wire format, at each layer that speaks it
    "openai_chat": "the OpenAI Chat Completions format: its parser, client and request codec",
    "openai_responses": "the OpenAI Responses format: parser, importer, client, request codec",
    "anthropic": "the Anthropic Messages format: client, request codec, batch API",
    "gemini": "the Gemini format: parser, client, request codec",
    "otel": "OpenTelemetry spans, read (importer) and written (exporter)",
    # a command and the library module that does its work (commands stay thin shells)
    "gate": "the release gate", "predict": "the deployment-rate prediction",
    "calibrate": "the calibration", "audit": "the audit log", "replay": "the replay",
    "schema": "the JSON Schema of the cassette records",
    "robustness": "the robustness matrix: command, workflow, report section",
}
ANY_PACKAGE = {"__init__", "errors", "testing", "cli"}


def test_a_module_name_means_one_thing_across_the_tree() -> None:
    homes: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            homes.setdefault(path.stem, []).append(path.relative_to(ROOT).as_posix())
    repeated = {name: paths for name, paths in homes.items()
                if len({p.rsplit("/", 1)[0] for p in paths}) > 1 and name not in ANY_PACKAGE}
    assert sorted(set(repeated) - set(SAME_MEANING)) == [], repeated

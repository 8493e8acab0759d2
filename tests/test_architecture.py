"""The shape docs/architecture.md promises, checked on the source: dependencies point one way,
one package owns the files of GENERATED/ and RUN/, only cli/ speaks typer and CLI flags."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "robustbench_mllm"
FOUNDATION = {"records", "registry", "protocols", "errors", "io_utils", "seeding", "imaging", "prompts", "downloads",
              "__init__"}
PLUG_INS = {"perturbations", "sources", "models", "judges", "metrics", "llm", "reports", "publish", "train"}
# cli -> runners -> plug-ins -> store -> foundation; a module imports from its floor or below
FLOORS = {"cli": 4, "runners": 3, **{name: 2 for name in PLUG_INS}, "store": 1, **{name: 0 for name in FOUNDATION}}
ENTRY_POINTS = {"robustbench_mllm.train.__main__"}  # `python -m robustbench_mllm.train` runs the CLI command


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts), path


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS[parts[1] if len(parts) > 1 else "__init__"]


MODULES = dict(_modules())


def test_every_top_level_name_has_a_floor() -> None:
    tops = {module.split(".")[1] for module in MODULES if module.count(".")}
    assert tops <= set(FLOORS), f"place {sorted(tops - set(FLOORS))} on a floor in docs/architecture.md and here"


@pytest.mark.parametrize("module", sorted(set(MODULES) - ENTRY_POINTS))
def test_imports_point_down(module: str) -> None:
    upward = sorted({
        imported for imported in _imports(MODULES[module])
        if imported in MODULES and _floor(imported) > _floor(module)
    })
    assert not upward, f"{module} (floor {_floor(module)}) imports a higher floor: {upward}"


def test_no_import_cycles_between_modules() -> None:
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle of the design
    graph = {m: {i for i in deps if not m.endswith(".__init__") and not i.startswith(m + ".")}
             for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            target = dep if dep in graph else f"{dep}.__init__"
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycle = trail[trail.index(target):] + [target] if target in trail else [module, target]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _outside(folder: str) -> list[tuple[str, Path]]:
    return [(m, p) for m, p in MODULES.items() if not m.startswith(f"robustbench_mllm.{folder}.")]


def test_only_store_opens_parquet_files() -> None:
    offenders = [m for m, p in _outside("store") if any(i.startswith("pyarrow.parquet") for i in _imports(p))]
    assert not offenders


def test_only_cli_speaks_typer() -> None:
    offenders = [m for m, p in _outside("cli") if any(i == "typer" or i.startswith("typer.") for i in _imports(p))]
    assert not offenders


FOLDER_FILES = re.compile(r"""/\s*["'](predictions|judgments|embeddings|hidden_states|run\.json|results\.json|manifest\.json)["']""")


def test_only_store_names_the_files_of_the_two_folders() -> None:
    offenders = [m for m, p in _outside("store") if FOLDER_FILES.search(p.read_text(encoding="utf-8"))]
    assert not offenders, "build these paths with store.layout"


FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _raised_text(node: ast.Raise) -> str:
    return " ".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def test_no_library_error_message_names_a_cli_flag() -> None:
    found = []
    for module, path in _outside("cli"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and FLAG.search(_raised_text(node)):
                found.append(f"{module}:{node.lineno}")
    assert not found, "name the setting as `param_name`; the CLI shows its flag"

"""Write some of our modules into one source file that imports nothing of ours.

The exported lmms-eval ``utils.py`` must run where robust-mllm is not installed, yet score with
the very code ``evaluate`` scores with. So it is generated from that code: each module of the
bundle contributes its top-level statements (all of them, or the ones defining the names asked
for), in order; its standard-library imports are kept; an import of our own package is dropped
when an earlier part of the bundle defines the names, and an error class of ``errors.py`` becomes
a stand-in subclass of the builtin it refines. Anything else of ours the code needs is refused
here, at export, rather than failing later inside lmms-eval. A name two parts define is refused
too (one namespace).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass

from robustbench_mllm import errors

PACKAGE = "robustbench_mllm"


@dataclass(frozen=True)
class Part:
    """A module of the bundle: all of its top-level definitions, or only those in ``names``."""

    module: str
    names: tuple[str, ...] = ()


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _used(nodes: Sequence[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The statement's source with its decorators (ast's own segment starts at ``def``)."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "".join(lines[first - 1 : node.end_lineno])


def _error_stand_in(name: str) -> str:
    error = getattr(errors, name)
    builtin = next(base for base in error.__mro__ if base.__module__ == "builtins")
    return f"class {name}({builtin.__name__}):\n    \"\"\"robust-mllm's {name} (errors.py), here without the package.\"\"\"\n"


def bundle(parts: Sequence[Part], docstring: str) -> str:
    """One module's source: ``docstring``, then every part's imports and definitions."""
    imports: list[str] = []
    stand_ins: list[str] = []
    bodies: list[str] = []
    defined: set[str] = set()
    for part in parts:
        module = importlib.import_module(part.module)
        source = inspect.getsource(module)
        lines = source.splitlines(keepends=True)
        tree = ast.parse(source)
        statements = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.Expr))]
        if part.names:
            statements = [n for n in statements if _defined(n) & set(part.names)]
            missing = set(part.names) - {name for n in statements for name in _defined(n)}
            if missing:
                raise RuntimeError(f"{part.module} defines no {sorted(missing)}")
        used = _used(statements)
        for node in tree.body:
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.module != "__future__"
                                                and not (node.module or "").startswith(PACKAGE)):
                text = _segment(lines, node)
                if text not in imports:
                    imports.append(text)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                for alias in node.names:
                    name = alias.asname or alias.name
                    if name in defined or name not in used:
                        continue
                    if node.module == errors.__name__ and isinstance(getattr(errors, alias.name, None), type):
                        stand_ins.append(_error_stand_in(alias.name))
                        defined.add(name)
                    else:
                        raise RuntimeError(f"{part.module} needs {node.module}.{alias.name}: add it to the bundle")
        clash = defined & {name for n in statements for name in _defined(n)}
        if clash:
            raise RuntimeError(f"{part.module} defines {sorted(clash)} again")
        bodies.append(f"# --- from {part.module} ---\n\n" + "\n\n".join(_segment(lines, n) for n in statements))
        defined |= {name for n in statements for name in _defined(n)}
    # No ``from __future__ import annotations``: lmms-eval runs the file without putting it in
    # sys.modules, where dataclasses look up string annotations (Python >= 3.10 evaluates them).
    header = f'"""{docstring}"""\n\n'
    return header + "".join(imports) + "\n\n" + "\n\n".join(stand_ins + bodies)

"""The layers and domain walls, checked on the source (the layer contracts themselves
are import-linter's, in pyproject.toml, run by `make lint`): a module never reaches into
another module's private names, the way one domain would lean on another's internals."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "schema", "workflows", "payments", "push", "storage", "models")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    leaks = []
    for name, path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module == name or node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    leaks.append(f"{name} (line {node.lineno}): {node.module}.{alias.name}")
    assert leaks == []

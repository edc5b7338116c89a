"""The layers and domain walls, checked on the source (the layer contracts themselves
are import-linter's, in pyproject.toml, run by `make lint`): a module never reaches into
another module's private names, the way one domain would lean on another's internals."""

from __future__ import annotations

import ast
import re
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


CLAIM_WRITES = frozenset(
    {"create", "save", "update", "delete", "bulk_create", "bulk_update", "get_or_create"}
    | {"update_or_create", "update_from_dict", "select_for_update"}
)
CLAIMS_WORKFLOW = ("workflows", "claims")


def _receiver_chain(node: ast.expr) -> list[ast.expr]:
    """The names along a call chain, last its start: ``m.Claim.filter(id=x)`` gives the
    ``filter`` and ``Claim`` attributes, then ``m``."""
    chain: list[ast.expr] = []
    while isinstance(node, ast.Attribute | ast.Call):
        if isinstance(node, ast.Attribute):
            chain.append(node)
            node = node.value
        else:
            node = node.func
    return [*chain, node]


def claim_writes(path: Path) -> list[int]:
    """Lines of ``path`` that write a ``Claim`` row: a write method called on a chain
    that starts at the ``Claim`` model, or ``save``/``delete`` on a variable named
    after a claim. (``select_for_update`` counts: it is how a write begins.)"""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in CLAIM_WRITES:
            continue
        chain = _receiver_chain(node.func.value)
        names = {n.id if isinstance(n, ast.Name) else n.attr for n in chain}
        root = chain[-1]
        if "Claim" in names or (
            node.func.attr in {"save", "delete"}
            and isinstance(root, ast.Name)
            and "claim" in root.id.lower()
        ):
            lines.append(node.lineno)
    return lines


def test_only_the_claims_workflow_writes_claims() -> None:
    writers = [
        f"{name} (line {line})"
        for name, path in _modules()
        if path.relative_to(ROOT).parts[:2] != CLAIMS_WORKFLOW
        for line in claim_writes(path)
    ]
    assert writers == []


def test_the_claim_write_check_sees_writes() -> None:
    """The check above would pass vacuously if it recognised nothing."""
    claims = ROOT / "workflows" / "claims"
    assert claim_writes(claims / "state.py")  # the transition's conditional update
    assert claim_writes(claims / "reporting.py")  # Claim.create
    aliased = ROOT / "tests" / "test_architecture.py"  # the sample below, as source
    assert claim_writes(aliased) == [SAMPLE_LINE]


def _aliased_write_sample() -> None:  # never run: what the check must see
    import models.claims as m

    m.Claim.filter(id=None).update(status="PAID")  # SAMPLE


SAMPLE_LINE = next(
    number
    for number, line in enumerate(Path(__file__).read_text().splitlines(), start=1)
    if line.strip().endswith("# SAMPLE") and "m.Claim" in line
)


# SQL that leaves state on a PostgreSQL session beyond its transaction: what the pool's
# full reset would undo, and does only for a connection marked with holds_session_state
# (models/session_state.py). Transaction-scoped forms (SET LOCAL, *_xact_lock) end anyway.
SESSION_STATE_SQL = re.compile(
    r"pg_(try_)?advisory_lock(_shared)?\s*\(|\bLISTEN\s+\w|(^|;)\s*SET\s+(SESSION\s+)?(?!LOCAL\b)\w+\s*(=|TO\b)"
    r"|set_config\s*\([^)]*false|\bDECLARE\b.*\bWITH\s+HOLD\b|\bPREPARE\s+\w+\s+AS\b",
    re.IGNORECASE | re.MULTILINE,
)


def session_state_statements(path: Path) -> list[int]:
    """Lines of string literals in ``path`` (not docstrings) that take session state."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and SESSION_STATE_SQL.search(node.value)
    ]


def test_session_state_is_taken_only_on_marked_connections() -> None:
    """A pooled connection goes back without a reset unless marked: a module that takes
    session state must mark the connection (``holds_session_state``) first."""
    unmarked = [
        f"{name} (line {line})"
        for name, path in _modules()
        if "holds_session_state(" not in path.read_text()
        for line in session_state_statements(path)
    ]
    assert unmarked == []
    assert session_state_statements(ROOT / "push" / "outbox.py")  # the check sees them
    samples = ("SET statement_timeout = 0", "LISTEN events", "SELECT pg_advisory_lock($1)")
    assert all(SESSION_STATE_SQL.search(sample) for sample in samples)
    ended = ("SET LOCAL statement_timeout = 0", "SELECT pg_advisory_xact_lock($1)")
    assert not any(SESSION_STATE_SQL.search(sample) for sample in ended)
    assert not SESSION_STATE_SQL.search('UPDATE "policy" SET "status"=$1 WHERE "id"=$2')
    assert not SESSION_STATE_SQL.search("refusing: set ANXIN_ENV=production")  # prose

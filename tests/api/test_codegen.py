"""The README's example operations against ``schema.graphql``, as a typed client takes
them: ``@graphql-codegen/cli`` (``typescript`` + ``typescript-operations``, configured in
``tests/clients/codegen.mjs``) generates their types, and ``tsc --strict --noEmit``
compiles them.

Found: codegen validates all documents together, and the README's operations were
anonymous; an anonymous operation must be the only one, so not one type was generated.
Every example operation now has a name."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import graphql

from tests.api.gateway_process import CLIENTS, NODE, needs_node_clients

ROOT = Path(__file__).resolve().parents[2]
# A block fenced as ```graphql is an operation to validate; schema excerpts, if the README
# ever shows one, are fenced ```graphql-schema.
BLOCK = re.compile(r"^```graphql\n(.*?)^```$", re.S | re.M)


def readme_operations() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def test_every_readme_example_is_a_named_operation_valid_against_the_schema() -> None:
    schema = graphql.build_schema((ROOT / "schema.graphql").read_text())
    blocks = readme_operations()
    assert len(blocks) >= 8
    names: list[str] = []
    for block in blocks:
        document = graphql.parse(block)
        assert not graphql.validate(schema, document), block
        for definition in document.definitions:
            assert isinstance(definition, graphql.OperationDefinitionNode), block
            assert definition.name is not None, f"an anonymous operation:\n{block}"
            names.append(definition.name.value)
    assert len(names) == len(set(names)), names


@needs_node_clients
def test_codegen_types_of_the_readme_operations_compile_under_strict(tmp_path: Path) -> None:
    operations = tmp_path / "operations"
    operations.mkdir()
    for number, block in enumerate(readme_operations(), start=1):
        (operations / f"readme{number:02d}.graphql").write_text(block)
    types = tmp_path / "types"
    env = os.environ | {
        "ANXIN_SCHEMA": str(ROOT / "schema.graphql"),
        "ANXIN_OPERATIONS": str(operations),
        "ANXIN_TYPES": str(types),
    }
    bin_dir = CLIENTS / "node_modules" / ".bin"
    assert NODE is not None
    generated = subprocess.run(
        [bin_dir / "graphql-codegen", "--config", "codegen.mjs"],
        cwd=CLIENTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    produced = (types / "operations.ts").read_text()
    for block in readme_operations():
        for definition in graphql.parse(block).definitions:
            assert isinstance(definition, graphql.OperationDefinitionNode)
            assert definition.name is not None
            kind = definition.operation.value.capitalize()
            assert f"export type {definition.name.value}{kind} = " in produced

    compiled = subprocess.run(
        [bin_dir / "tsc", "--strict", "--noEmit", types / "schema.ts", types / "operations.ts"],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr

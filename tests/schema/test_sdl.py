"""The committed SDL is current, and every type and field is described for GraphiQL."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)

from schema import build_schema

SDL = Path(__file__).parents[2] / "schema.graphql"


def test_committed_schema_is_current() -> None:
    current = build_schema().as_str() + "\n"
    assert SDL.read_text() == current, "schema.graphql is stale: run `make schema`"


def test_every_type_and_field_is_described() -> None:
    missing = []
    for name, graphql_type in build_schema()._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            missing += [
                f"{name}.{field}"
                for field, definition in graphql_type.fields.items()
                if not definition.description
            ]
    assert missing == []

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


def test_no_two_domains_define_the_same_root_field() -> None:
    """The root types are built from each domain's mixin; when two define a field of the
    same name, one silently shadows the other (the knowledge base's and the conversation
    desk's `proposeKnowledgeEntry` did)."""
    from schema import Mutation, Query, Subscription

    for root in (Query, Mutation, Subscription):
        owners: dict[str, list[str]] = {}
        for mixin in root.__mro__[1:]:
            definition = getattr(mixin, "__strawberry_definition__", None)
            for field in definition.fields if definition else ():
                if field.origin is mixin:
                    owners.setdefault(field.python_name, []).append(mixin.__name__)
        shared = {name: where for name, where in owners.items() if len(where) > 1}
        assert shared == {}, f"{root.__name__}: {shared}"

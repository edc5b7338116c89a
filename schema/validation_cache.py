"""Validation remembered per parsed document (issue 19): strawberry's ``ValidationCache``
keys its ``lru_cache`` by the document, and a graphql-core node hashes its whole
subtree on every lookup (~140 node hashes for the policy page, every request). The
parser cache hands out the same document object for the same text, so the object's
identity is the key here; the entry holds the document, so its ``id`` cannot be reused
while it is cached. Same answer as strawberry's: the errors ``validate_document`` gives
for this schema, document and rules."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

MAX_DOCUMENTS = 500


class _Entry:
    __slots__ = ("document", "errors", "schema")

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, errors: list[GraphQLError]
    ) -> None:
        self.schema = schema
        self.document = document
        self.errors = errors


_KNOWN: OrderedDict[tuple[int, int, tuple[Any, ...]], _Entry] = OrderedDict()


def validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...]
) -> list[GraphQLError]:
    """``validate_document(schema, document, rules)``, once per (schema, document, rules)."""
    key = (id(schema), id(document), rules)
    entry = _KNOWN.get(key)
    if entry is None or entry.document is not document or entry.schema is not schema:
        entry = _Entry(schema, document, validate_document(schema, document, rules))
        _KNOWN[key] = entry
        while len(_KNOWN) > MAX_DOCUMENTS:
            _KNOWN.popitem(last=False)
    return entry.errors


class DocumentValidationCache(SchemaExtension):
    """strawberry's ``ValidationCache``, keyed by the parsed document's identity."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # validation runs on a parsed document
        context.pre_execution_errors = validated(
            context.schema._schema, document, tuple(context.validation_rules)
        )
        yield

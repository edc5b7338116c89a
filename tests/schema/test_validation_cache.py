"""A parsed document is validated once per schema and rules (``DocumentValidationCache``:
keyed by the document object the parser cache hands out, where strawberry's cache hashed
the whole document on every request), and its errors are the same every time."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache

from schema import validation_cache
from schema.validation_cache import DocumentValidationCache


@strawberry.type
class Query:
    hello: str = "hi"


def _schema(*rules: Any) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        extensions=[ParserCache, DocumentValidationCache, lambda: AddValidationRules(list(rules))],
    )


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    real = validation_cache.validate_document

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        calls.append(document)
        return real(schema, document, rules)

    monkeypatch.setattr(validation_cache, "validate_document", counting)
    return calls


async def test_a_document_is_validated_once(validations: list[Any]) -> None:
    schema = _schema()
    for _ in range(3):
        result = await schema.execute("{ hello }", root_value=Query())
        assert result.data == {"hello": "hi"} and result.errors is None
    assert len(validations) == 1


async def test_errors_are_the_same_every_time(validations: list[Any]) -> None:
    schema = _schema()
    answers = [await schema.execute("{ hello nope }") for _ in range(2)]
    messages = [[e.message for e in a.errors or []] for a in answers]
    assert messages[0] == messages[1] == ["Cannot query field 'nope' on type 'Query'."]
    assert len(validations) == 1


async def test_other_rules_or_schemas_validate_afresh(validations: list[Any]) -> None:
    open_schema, closed = _schema(), _schema(NoSchemaIntrospectionCustomRule)
    query = "{ __schema { queryType { name } } }"
    assert (await open_schema.execute(query)).errors is None
    refused = await closed.execute(query)
    assert refused.errors and "introspection" in refused.errors[0].message
    assert len(validations) == 2

"""``policy_nodes`` reads a page's lists in one statement when the query names any of
them anywhere below the connection: the names it sees (``_selected_names``, read from
the document's nodes) are exactly those of strawberry's ``selected_fields``, fragments,
inline fragments and aliases included."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from schema.policies.types import _selected_names

SEEN: list[tuple[set[str], set[str]]] = []


def _strawberrys(info: Info) -> set[str]:
    names: set[str] = set()
    pending: list[Any] = list(info.selected_fields)
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        pending.extend(selection.selections)
    return names


@strawberry.type
class Leaf:
    name: str
    coverages: list[str]


@strawberry.type
class Box:
    leaf: Leaf
    count: int


@strawberry.type
class Query:
    @strawberry.field
    def box(self, info: Info) -> Box:
        SEEN.append((_selected_names(info), _strawberrys(info)))
        return Box(leaf=Leaf(name="n", coverages=[]), count=1)


SCHEMA = strawberry.Schema(query=Query)


async def test_the_names_are_strawberrys_selected_fields() -> None:
    query = """query Q($no: Boolean!) {
      a: box { count ... on Box { leaf { name } } ...F }
      box { leaf @skip(if: $no) { c: coverages } }
    }
    fragment F on Box { leaf { ...G } }
    fragment G on Leaf { coverages }"""
    SEEN.clear()
    result = await SCHEMA.execute(query, variable_values={"no": False})
    assert result.errors is None
    assert [ours for ours, _ in SEEN] == [theirs for _, theirs in SEEN]
    assert SEEN[0][0] == {"box", "count", "leaf", "name", "coverages"}
    assert SEEN[1][0] == {"box", "leaf", "coverages"}

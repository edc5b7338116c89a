"""Long ``IN`` lists in pieces: SQLite refuses more than 32,766 parameters in one
statement, and planning or importing can name tens of thousands of rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from tortoise.models import Model

BATCH_SIZE = 2_000
T = TypeVar("T")
M = TypeVar("M", bound=Model)


def in_batches(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def fetch_in(model: type[M], column: str, values: Sequence[Any]) -> list[M]:
    """``model`` rows whose ``column`` is one of ``values``, however many there are."""
    found: list[M] = []
    for batch in in_batches(values):
        found += await model.filter(**{f"{column}__in": batch})
    return found

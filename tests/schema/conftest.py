"""Fixtures of the schema tests: counting the SQL statements a request sends."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise sends (it logs each on tortoise.db_client)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@pytest.fixture
def sql_counter() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    logger = logging.getLogger("tortoise.db_client")
    previous = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    yield counter
    logger.removeHandler(counter)
    logger.setLevel(previous)

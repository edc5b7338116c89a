"""Counting the SQL statements Tortoise sends, for tests of how many a request costs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise sends (it logs each on tortoise.db_client)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@contextlib.contextmanager
def counting_statements() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    logger = logging.getLogger("tortoise.db_client")
    previous = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)

"""Fixtures of the schema tests: counting the SQL statements a request sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sql_counter import QueryCounter, counting_statements


@pytest.fixture
def sql_counter() -> Iterator[QueryCounter]:
    with counting_statements() as counter:
        yield counter

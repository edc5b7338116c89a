"""Hand-written reads for the hottest paths: one statement where the ORM would send
several, and rows instead of model objects (issue 19: the policy lookup and every
request's authentication).

One SQL text serves both databases: ``:name`` placeholders (``$n`` for PostgreSQL, ``?``
for SQLite) and ``= ANY(:ids)`` for "one of this list" (``json_each`` on SQLite).
Values come back as the driver returns them; ``column`` converts one the way the
model's own field does, so an answer built from a row equals one built from a model.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import cache, lru_cache, partial
from typing import Any, cast

from tortoise import fields
from tortoise.models import Model

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_ANY = re.compile(r"= ANY\(:([A-Za-z_]\w*)\)")


def _sqlite_value(value: Any) -> Any:
    """UUIDs are stored as text; a list is passed as JSON for ``json_each``
    (datetimes, dates and decimals have sqlite3 adapters: ``models/sqlite_times``)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return json.dumps([str(item) for item in value])
    return value


def _positional(sql: str, params: dict[str, Any], postgres: bool) -> tuple[str, list[Any]]:
    text, names = _translated(sql, postgres)
    if postgres:
        return text, [params[name] for name in names]
    return text, [_sqlite_value(params[name]) for name in names]


@lru_cache(maxsize=256)
def _translated(sql: str, postgres: bool) -> tuple[str, tuple[str, ...]]:
    """``:name`` to ``$n`` (PostgreSQL: a name used twice is one parameter) or ``?``
    (SQLite: one value per occurrence); the names in the order of their values."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if not postgres:
            names.append(name)
            return "?"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    if not postgres:
        sql = _ANY.sub(r"IN (SELECT value FROM json_each(:\1))", sql)
    return _PLACEHOLDER.sub(number, sql), tuple(names)


def on_postgres(model: type[Model]) -> bool:
    """Whether ``model``'s connection is PostgreSQL (else SQLite): hand-written statements
    that differ between the two choose by this."""
    return bool(model._meta.db.capabilities.dialect == "postgres")


async def fetch(model: type[Model], sql: str, **params: Any) -> list[dict[str, Any]]:
    """The rows of ``sql`` on ``model``'s connection (the current transaction's, if any)."""
    return await model._meta.db.execute_query_dict(*_positional(sql, params, on_postgres(model)))


async def records(model: type[Model], sql: str, **params: Any) -> Sequence[Sequence[Any]]:
    """The rows of ``sql`` as the driver gives them (``sqlite3.Row``, ``asyncpg.Record``),
    to be read by position in the statement's column order. ``fetch`` turns each into a
    dict, which on SQLite cost more than everything else a page's child row needs."""
    _, rows = await model._meta.db.execute_query(*_positional(sql, params, on_postgres(model)))
    return cast(Sequence[Sequence[Any]], rows)  # typed as dicts, given as the driver's rows


async def write_many(
    model: type[Model], postgres_sql: str, sqlite_sql: str, rows: Sequence[Sequence[Any]]
) -> None:
    """Write ``rows`` in one statement: PostgreSQL gets one array per column (for
    ``unnest($1::…[], …)``), SQLite the rows themselves (one ``executemany``, UUIDs as
    text). Both statements take the columns in the rows' order."""
    if not rows:
        return
    db = model._meta.db
    if on_postgres(model):
        await db.execute_query(postgres_sql, [list(values) for values in zip(*rows, strict=True)])
        return
    await db.execute_many(sqlite_sql, [[_sqlite_value(value) for value in row] for row in rows])


def column(model: type[Model], field: str, value: Any) -> Any:
    """A raw column value as ``model.field`` holds it (UUID, aware UTC datetime, date,
    decimal with the field's places, enum member, bool)."""
    return converter(model, field)(value)


Converter = Callable[[Any], Any]


@cache
def converter(model: type[Model], field: str) -> Converter:
    """``column`` for one column, looked up once. The field's own conversion, except
    that time and date text (SQLite's) is parsed by ``fromisoformat`` (C) first rather
    than by iso8601 (Python): the same value, several times faster."""
    to_python: Converter = model._meta.fields_map[field].to_python_value
    kind = type(model._meta.fields_map[field])
    if issubclass(kind, fields.DatetimeField):
        return partial(_from_text, datetime.fromisoformat, to_python)
    if issubclass(kind, fields.DateField):
        return partial(_from_text, date.fromisoformat, to_python)
    return to_python


def passes_through(model: type[Model], field: str) -> bool:
    """Whether a column's value comes from either driver as ``model.field`` holds it, so a
    row builder may skip the call: text of a plain text field (the field's conversion is
    Tortoise's default, which returns a ``str`` unchanged)."""
    found = model._meta.fields_map[field]
    default = type(found).to_python_value is fields.Field.to_python_value
    return default and found.field_type is str


def _from_text(parse: Converter, to_python: Converter, value: Any) -> Any:
    if isinstance(value, str):
        try:  # not contextlib.suppress: three more calls per value, ~100 values a page
            value = parse(value)
        except ValueError:  # a form fromisoformat does not read: the field's own
            return to_python(value)
    return to_python(value)

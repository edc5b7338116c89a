"""Tortoise's finalisation of the models, done again only when its inputs change.

Every ``TortoiseContext.init`` (each test's ``db``, each test app's ``RegisterTortoise``)
makes Tortoise finalise every model again (``Apps._build_initial_querysets``): filters,
column lists, base queries for ~115 models, ~40 ms of CPU per test and a third of a
trivial test's setup. What it computes is stored on the model classes, which are
process-wide anyway, and depends only on each model's table and fields and on the
dialect of its connection (the executor's filter overrides and native types, the
query class). A later init with the same inputs would store the same values again, so
it is skipped; an init on another dialect (a PostgreSQL run that opens a SQLite
snapshot, or the other way round) finalises again, as Tortoise always does.

The connections stay per test: a model's ``_meta.db`` is looked up in the current
context on every use, never stored by the finalisation. Gateway processes (one init
each) are untouched: this is installed by ``tests/conftest.py`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from tortoise.apps import Apps

_original: Callable[[Apps], None] | None = None
_finalised_for: Hashable | None = None


def finalisation_inputs(apps: Apps) -> tuple[Any, ...]:
    """What ``_build_initial_querysets`` reads: per model its table, schema, fields and
    its connection's executor and query classes (the dialect)."""
    inputs = []
    for app in apps.values():
        for model in app.values():
            meta = model._meta
            db = meta.db
            inputs.append(
                (
                    model,
                    meta.db_table,
                    meta.schema,
                    tuple(meta.fields_map.items()),
                    tuple(meta.fields_db_projection.items()),
                    db.executor_class,
                    db.query_class,
                )
            )
    return tuple(inputs)


def _build_initial_querysets_once(self: Apps) -> None:
    global _finalised_for
    assert _original is not None
    inputs = finalisation_inputs(self)
    if inputs == _finalised_for:
        return
    _finalised_for = None  # a failure half-way leaves nothing to trust
    _original(self)
    _finalised_for = inputs


def install() -> None:
    """Replace Tortoise's finalisation with the one above (idempotent)."""
    global _original
    if _original is None:
        _original = Apps._build_initial_querysets
        Apps._build_initial_querysets = _build_initial_querysets_once  # type: ignore[method-assign]


def forget() -> None:
    """Finalise again at the next init, whatever its inputs (for the tests of this)."""
    global _finalised_for
    _finalised_for = None

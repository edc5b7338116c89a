"""Tortoise's migration executor, without the state copies nobody reads.

Tortoise's ``Migration.apply`` clones the whole migration state (re-rendering every
model class built so far) before *each* operation, to hand the operation the state as it
was before it ran. Only some operations read that state (``AlterField`` compares the
old column, ``RunPython`` queries through it, …); ``CreateModel``, ``AddField``,
``AddIndex``, ``AddConstraint``, ``AlterModelOptions`` and ``RunSQL`` work from the new
state alone. Over our migrations (≈180 operations, 115 models) those clones were most of
the ~45 s of CPU one pass took: paid by every ``anxin migrate`` of a new database and
by the test suite's upgrade tests.

Here those operations get a stand-in that refuses every attribute read, so an operation
(or a newer Tortoise) that does read it fails the migration loudly instead of getting a
wrong state; every other operation still gets the real clone. Everything else (the plan,
the recorder, transactions, progress events, rollbacks) is Tortoise's own.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from tortoise import Tortoise
from tortoise.connection import get_connection
from tortoise.migrations import operations as ops
from tortoise.migrations.executor import MigrationExecutor
from tortoise.migrations.loader import MigrationLoader
from tortoise.migrations.migration import Migration
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

# Exact types (a subclass may read more): their ``database_forward`` reads ``new_state``
# only, as of Tortoise 1.1.
NEW_STATE_ONLY: frozenset[type[ops.Operation]] = frozenset(
    {
        ops.CreateModel,
        ops.AddField,
        ops.AddIndex,
        ops.AddConstraint,
        ops.AlterModelOptions,
        ops.RunSQL,
    }
)


class UnreadState:
    """Handed to an operation as its state before: any read of it is a bug here."""

    def __init__(self, operation: ops.Operation) -> None:
        self._operation = operation

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"{type(self._operation).__name__} read the state before it ran ({name!r}): "
            "take it out of models.migration_executor.NEW_STATE_ONLY"
        )


def state_before(operation: ops.Operation, state: State) -> State:
    """A copy of ``state`` for an operation that reads it; a refusing stand-in otherwise."""
    if type(operation) in NEW_STATE_ONLY:
        return UnreadState(operation)  # type: ignore[return-value]
    return state.clone()


async def apply_migration(
    self: Migration,
    state: State,
    *,
    dry_run: bool = False,
    schema_editor: BaseSchemaEditor | None = None,
    collect_sql: bool = False,
) -> State:
    """``Migration.apply`` for a real run; state-only and SQL-collecting runs are
    Tortoise's own (they clone nothing, or need the copies)."""
    if dry_run or collect_sql or schema_editor is None:
        return await Migration.apply(
            self, state, dry_run=dry_run, schema_editor=schema_editor, collect_sql=collect_sql
        )
    supports_transactions = schema_editor.client.capabilities.supports_transactions
    for operation in self.operations:
        old_state = state_before(operation, state)
        operation.state_forward(self.app_label, state)
        await self._run_database_forward(
            operation, old_state, state, schema_editor, supports_transactions
        )
    state.validate_relations_initialized()
    return state


class Loader(MigrationLoader):
    """Tortoise's loader; the migrations it loads apply with ``apply_migration``."""

    def load_disk(self) -> None:
        super().load_disk()
        for migration in self.disk_migrations.values():
            migration.apply = types.MethodType(apply_migration, migration)  # type: ignore[method-assign]


class Executor(MigrationExecutor):
    """Tortoise's executor with migrations that skip the unread state copies."""

    def __init__(self, connection: Any, apps_config: dict[str, dict]) -> None:
        super().__init__(connection, apps_config)
        self.loader = Loader(apps_config, self.recorder, load=False)


async def migrate(
    config: dict[str, Any], progress: Callable[[str, str, str], object] | None = None
) -> None:
    """Every app's migrations to the latest, as ``tortoise.migrations.api.migrate``
    does with no target."""
    await Tortoise.init(config=config, init_connections=False)
    by_connection: dict[str, dict[str, dict[str, Any]]] = {}
    for label, app_config in config["apps"].items():
        name = app_config.get("default_connection", "default")
        by_connection.setdefault(name, {})[label] = app_config
    for name, apps in by_connection.items():
        await Executor(get_connection(name), apps).migrate(progress=progress)

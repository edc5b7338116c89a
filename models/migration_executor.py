"""Tortoise's migration executor, without the state copies and renders nobody reads.

Tortoise's ``Migration.apply`` clones the whole migration state (re-rendering every
model class built so far) before *each* operation, to hand the operation the state as it
was before it ran. Most operations never read it: ``CreateModel``, ``AddField``,
``AddIndex``, ``AddConstraint``, ``AlterModelOptions`` and ``RunSQL`` work from the new
state alone; ``AlterField`` reads only the one class it alters, as it was; ``RunPython``
changes no state, so the state before it is the state after it. Here those get a
stand-in (a refusing one, or the old class alone, or the state itself); a stand-in
refuses every read it does not expect, so an operation (or a newer Tortoise) that reads
more fails the migration loudly instead of getting a wrong state. Every other operation
(our own subclasses, e.g. 0014's ``DescribeEnum``, which reads nothing) gets a full copy
of the state's descriptions whose classes are rendered only if it reads them.

The state itself is a ``LazyState`` (``models.migration_state``): classes re-rendered
only when read, so replaying the migrations a database already has (to learn the state
the rest start from) renders nothing. Everything else (the plan, the recorder,
transactions, progress events, rollbacks) is Tortoise's own.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from tortoise import Tortoise
from tortoise.connection import get_connection
from tortoise.migrations import operations as ops
from tortoise.migrations.executor import MigrationExecutor
from tortoise.migrations.graph import MigrationKey
from tortoise.migrations.loader import MigrationLoader
from tortoise.migrations.migration import Migration
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State
from tortoise.migrations.schema_generator.state_apps import StateApps

from models.migration_state import LazyState

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


class OldModelOnly(UnreadState):
    """The state before an ``AlterField``: its model's class as it was (Tortoise
    compares the old field with the new one), and nothing else."""

    def __init__(self, operation: ops.AlterField, app_label: str, state: State) -> None:
        super().__init__(operation)
        self.apps = OneModelApps(operation, f"{app_label}.{operation.model_name}", state)


class OneModelApps:
    """``apps.get_model`` of one model, resolved now: after ``state_forward`` the
    state renders a new class and this one is left as it was."""

    def __init__(self, operation: ops.Operation, reference: str, state: State) -> None:
        self._operation = operation
        self._reference = reference
        self._model = state.apps.get_model(reference)

    def get_model(self, app_label: str, model_name: str | None = None) -> Any:
        reference = app_label if model_name is None else f"{app_label}.{model_name}"
        if reference != self._reference:
            raise RuntimeError(
                f"{type(self._operation).__name__} read {reference!r} from the state before "
                f"it ran, not only {self._reference!r}: see models.migration_executor"
            )
        return self._model

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"{type(self._operation).__name__} read the state before it ran ({name!r}): "
            "see models.migration_executor"
        )


def state_before(operation: ops.Operation, app_label: str, state: State) -> State:
    """What ``operation`` gets as the state before it ran (see the module's docstring);
    ``operation.state_forward`` runs next."""
    kind = type(operation)
    if kind in NEW_STATE_ONLY:
        return UnreadState(operation)  # type: ignore[return-value]
    if kind is ops.AlterField:
        return OldModelOnly(operation, app_label, state)  # type: ignore[arg-type, return-value]
    if kind is ops.RunPython:
        return state  # unchanged by its state_forward: see forward()
    if isinstance(state, LazyState):
        return state.copy_unrendered()  # ours (e.g. DescribeEnum) mostly read none of it
    return state.clone()


def descriptions(state: State) -> tuple:
    """What a state says of its models (no classes), to check that an operation left
    it alone."""
    return tuple(
        (key, id(model), id(model.options), tuple((n, id(f)) for n, f in model.fields.items()))
        for key, model in state.models.items()
    )


def forward(operation: ops.Operation, app_label: str, state: State) -> None:
    """``operation.state_forward``, checking that a ``RunPython`` (whose state before is
    the state itself) changed nothing."""
    if type(operation) is not ops.RunPython:
        operation.state_forward(app_label, state)
        return
    before = descriptions(state)
    operation.state_forward(app_label, state)
    if descriptions(state) != before:
        raise RuntimeError(
            "RunPython changed the migration state: give it a copy of the state before "
            "(models.migration_executor.state_before)"
        )


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
        old_state = state_before(operation, self.app_label, state)
        forward(operation, self.app_label, state)
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

    async def _project_state(
        self, applied: set[MigrationKey], *, upto: MigrationKey | None = None
    ) -> State:
        """Tortoise's replay of the applied migrations, into a ``LazyState``."""
        default_connections = {
            label: config.get("default_connection", "default")
            for label, config in self.loader.apps_config.items()
        }
        state = LazyState(models={}, apps=StateApps(default_connections=default_connections))
        for key in self._full_plan():
            if key not in applied:
                continue
            if upto and key == upto:
                break
            migration = self.loader.graph.nodes[key]
            if migration is None:
                raise ValueError(f"Missing migration for {key}")
            await migration.apply(state, dry_run=True, schema_editor=None)
        return state


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

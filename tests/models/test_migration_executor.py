"""Our migration executor copies the migration state only for the operations that read
the copy, and builds the same tables as Tortoise's own ``Migration.apply``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tortoise import fields
from tortoise.connection import get_connection
from tortoise.migrations import operations as ops
from tortoise.migrations.migration import Migration
from tortoise.migrations.recorder import MigrationRecorder
from tortoise.migrations.schema_editor import SqliteSchemaEditor
from tortoise.migrations.schema_generator.state import State
from tortoise.migrations.schema_generator.state_apps import StateApps
from tortoise.transactions import in_transaction

from models.config import tortoise_config
from models.database import open_database
from models.migration_executor import Loader, UnreadState, apply_migration
from models.migration_state import LazyState


class GadgetMigration(Migration):
    operations = [  # noqa: RUF012 (Tortoise's own migration shape)
        ops.CreateModel(
            name="Gadget",
            fields=[
                ("id", fields.IntField(primary_key=True)),
                ("name", fields.CharField(max_length=8)),
            ],
            options={"table": "gadget", "app": "gadgets"},
        ),
        ops.AddField(model_name="Gadget", name="size", field=fields.IntField(default=0)),
        ops.AlterField(model_name="Gadget", name="name", field=fields.CharField(max_length=32)),
        ops.RunSQL("CREATE INDEX gadget_size ON gadget (size)"),
    ]


async def _tables_after(
    apply: object, path: Path, monkeypatch: pytest.MonkeyPatch, kind: type[State] = State
) -> tuple:
    """The gadget table as ``apply`` builds it in a new database at ``path``, and how
    many state copies it took."""
    copies = 0
    copiers = [(State, "clone"), (LazyState, "clone"), (LazyState, "copy_unrendered")]
    originals = [getattr(owner, name) for owner, name in copiers]

    def counting(copier: Any) -> Any:
        def counted(state: State) -> State:
            nonlocal copies
            copies += 1
            return copier(state)

        return counted

    for (owner, name), original in zip(copiers, originals, strict=True):
        monkeypatch.setattr(owner, name, counting(original))
    async with open_database(f"sqlite://{path}"):
        state = kind(models={}, apps=StateApps(default_connections={"gadgets": "default"}))
        editor = SqliteSchemaEditor(get_connection("default"))
        async with in_transaction("default") as transaction:  # as the executor runs it
            editor.client = transaction
            await apply(GadgetMigration("0001_gadget", "gadgets"), state, schema_editor=editor)  # type: ignore[operator]
    for (owner, name), original in zip(copiers, originals, strict=True):
        monkeypatch.setattr(owner, name, original)
    with sqlite3.connect(path) as connection:
        schema = sorted(
            connection.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'gadget'"
            ).fetchall()
        )
    return schema, copies


async def test_only_the_operation_that_reads_the_state_before_gets_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs, their_copies = await _tables_after(Migration.apply, tmp_path / "a.db", monkeypatch)
    ours, our_copies = await _tables_after(
        apply_migration, tmp_path / "b.db", monkeypatch, LazyState
    )
    assert ours == theirs
    assert "VARCHAR(32)" in str(ours) and "gadget_size" in str(ours)
    assert (their_copies, our_copies) == (4, 0)  # AlterField gets its old class alone


def test_an_operation_that_reads_the_skipped_copy_fails_loudly() -> None:
    stand_in = UnreadState(ops.AddField(model_name="Gadget", name="size", field=fields.IntField()))
    with pytest.raises(RuntimeError, match="AddField read the state before it ran"):
        _ = stand_in.apps


async def test_the_project_migrations_apply_through_it(tmp_path: Path) -> None:
    config = tortoise_config(f"sqlite://{tmp_path / 'x.db'}")
    async with open_database(f"sqlite://{tmp_path / 'x.db'}"):
        loader = Loader(config["apps"], MigrationRecorder(get_connection("default")))
        loader.load_disk()
    assert len(loader.disk_migrations) >= 31
    for migration in loader.disk_migrations.values():
        assert migration.apply.__func__ is apply_migration  # type: ignore[attr-defined]

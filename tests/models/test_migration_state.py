"""The lazy migration state renders model classes only when they are read, and renders
the same classes as Tortoise's state, which renders them after every operation; the
stand-ins for the state before an operation refuse what they do not hold."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import tortoise.models
from tortoise import fields
from tortoise.fields.relational import BackwardFKRelation
from tortoise.migrations import operations as ops
from tortoise.migrations.migration import Migration
from tortoise.migrations.schema_generator.state import ModelState, State
from tortoise.migrations.schema_generator.state_apps import StateApps

from models import migration_state
from models.migration_executor import OneModelApps, forward, state_before
from models.migration_state import LazyState


class Workshop(Migration):
    operations = [  # noqa: RUF012 (Tortoise's own migration shape)
        ops.CreateModel(
            name="Part",  # before its target, as the autodetector orders them
            fields=[
                ("id", fields.IntField(primary_key=True)),
                ("gadget", fields.ForeignKeyField("gadgets.Gadget", related_name="parts")),
            ],
            options={"table": "part", "app": "gadgets"},
        ),
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
        ops.AddField(
            model_name="Part",
            name="spare_for",
            field=fields.ForeignKeyField("gadgets.Gadget", related_name="spares", null=True),
        ),
        ops.RemoveField(model_name="Part", name="gadget"),
    ]


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the model classes rendered, in order."""
    rendered: list[str] = []
    render = ModelState.render

    def counted(model_state: ModelState, apps: StateApps, **kwargs: Any) -> Any:
        rendered.append(model_state.name)
        return render(model_state, apps, **kwargs)

    monkeypatch.setattr(ModelState, "render", counted)
    yield rendered


def _new(kind: type[State]) -> State:
    return kind(models={}, apps=StateApps(default_connections={"gadgets": "default"}))


def _classes(state: State) -> dict[str, tuple]:
    """Each class's fields and what its relations point at."""
    return {
        name: tuple(
            sorted(
                (field_name, type(field).__name__, getattr(field, "related_name", None))
                for field_name, field in model._meta.fields_map.items()
            )
        )
        for name, model in state.apps.apps["gadgets"].items()
    }


async def test_a_replay_renders_nothing_and_a_read_renders_what_tortoise_s_does(
    renders: list[str],
) -> None:
    eager = _new(State)
    await Workshop("0001_workshop", "gadgets").apply(eager, dry_run=True)
    assert len(renders) > len(Workshop.operations)  # after each operation
    renders.clear()
    lazy = _new(LazyState)
    await Workshop("0001_workshop", "gadgets").apply(lazy, dry_run=True)
    assert renders == []
    gadget = lazy.apps.get_model("gadgets.Gadget")
    assert sorted(renders) == ["Gadget", "Part"]  # once each
    assert _classes(lazy) == _classes(eager)
    assert gadget._meta.fields_map["name"].max_length == 32  # type: ignore[attr-defined]
    assert "spares" in gadget._meta.fields_map and "parts" not in gadget._meta.fields_map
    assert lazy.apps.get_model("gadgets.Part") is lazy.apps.get_model("gadgets.Part")


async def test_the_state_before_an_operation_that_may_read_it_renders_when_read(
    renders: list[str],
) -> None:
    state = _new(LazyState)
    await Workshop("0001_workshop", "gadgets").apply(state, dry_run=True)
    state.apps.get_model("gadgets.Gadget")
    renders.clear()
    operation = ops.RemoveField(model_name="Gadget", name="size")
    before = state_before(operation, "gadgets", state)
    forward(operation, "gadgets", state)
    assert renders == []
    assert "size" in before.apps.get_model("gadgets.Gadget")._meta.fields_map
    assert "size" not in state.apps.get_model("gadgets.Gadget")._meta.fields_map


async def test_an_alter_field_gets_its_own_model_as_it_was_and_nothing_else() -> None:
    state = _new(LazyState)
    await Workshop("0001_workshop", "gadgets").apply(state, dry_run=True)
    operation = ops.AlterField(model_name="Gadget", name="size", field=fields.BigIntField())
    before = state_before(operation, "gadgets", state)
    forward(operation, "gadgets", state)
    old = before.apps.get_model("gadgets.Gadget")
    assert type(old._meta.fields_map["size"]) is fields.IntField
    assert type(state.apps.get_model("gadgets.Gadget")._meta.fields_map["size"]).__name__ == (
        "BigIntField"
    )
    assert isinstance(before.apps, OneModelApps)
    with pytest.raises(RuntimeError, match=r"read 'gadgets\.Part' from the state before"):
        before.apps.get_model("gadgets.Part")
    with pytest.raises(RuntimeError, match="read the state before it ran"):
        _ = before.models


async def test_a_run_python_that_changes_the_state_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its state before is the state itself, as long as its ``state_forward`` is a
    no-op (a newer Tortoise's might not be)."""
    state = _new(LazyState)
    await Workshop("0001_workshop", "gadgets").apply(state, dry_run=True)
    operation = ops.RunPython(ops.RunPython.noop)
    assert state_before(operation, "gadgets", state) is state
    forward(operation, "gadgets", state)  # today's: nothing changes

    def adds_a_field(self: ops.RunPython, app_label: str, state: State) -> None:
        state.models[(app_label, "Gadget")].fields["colour"] = fields.CharField(max_length=8)

    monkeypatch.setattr(ops.RunPython, "state_forward", adds_a_field)
    with pytest.raises(RuntimeError, match="RunPython changed the migration state"):
        forward(operation, "gadgets", state)


async def test_renders_share_one_filter_table_per_field_and_build_tortoise_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each field's filter table is built once however often its model is rendered, the
    tables equal Tortoise's, and Tortoise's own builder is back after each render."""
    built: list[tuple[str, str, type]] = []
    build = migration_state.get_filters_for_field

    def counted(name: str, field: Any, source: str) -> Any:
        if not isinstance(field, BackwardFKRelation):  # built every time, as Tortoise does
            built.append((name, source, type(field)))
        return build(name, field, source)

    monkeypatch.setattr(migration_state, "get_filters_for_field", counted)
    monkeypatch.setattr(migration_state, "SHARED_FILTERS", migration_state.SharedFilters())
    grown = ops.AddField(model_name="Gadget", name="colour", field=fields.CharField(max_length=8))
    eager = _new(State)
    await Workshop("0001_workshop", "gadgets").apply(eager, dry_run=True)
    forward(grown, "gadgets", eager)
    lazy = _new(LazyState)
    await Workshop("0001_workshop", "gadgets").apply(lazy, dry_run=True)
    lazy.apps.get_model("gadgets.Gadget")
    forward(grown, "gadgets", lazy)
    lazy.apps.get_model("gadgets.Gadget")  # Gadget and Part rendered a second time

    assert len(built) == len(set(built)) > 0
    assert tortoise.models.get_filters_for_field is build
    for name in ("Gadget", "Part"):
        ours = lazy.apps.get_model(f"gadgets.{name}")._meta._filters
        theirs = eager.apps.get_model(f"gadgets.{name}")._meta._filters
        assert _readable(ours) == _readable(theirs)


def _readable(filters: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """A filter table as text without addresses: its functions and the fields whose
    methods encode values by name (each render has its own field objects), its tables by
    name (pypika's ``Table`` compares by making SQL, not by value)."""
    return {
        key: sorted((k, re.sub(r" at 0x[0-9a-f]+", "", repr(v))) for k, v in entry.items())
        for key, entry in filters.items()
    }

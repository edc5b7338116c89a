"""Tortoise's migration state, with its model classes rendered when they are read.

Each operation's ``state_forward`` changes the state's model descriptions and then
re-renders every model class related to the changed one, however distantly: over our
migrations that is most of the 115 models, ~190 times a pass, and again for every
migration an upgrade replays to learn the state it starts from (only the descriptions
are needed there). ``LazyState`` notes which models to re-render and does it when
something reads the classes (``state.apps``): an operation's ``database_forward``, a
``RunPython`` that asks for a model, a copy of the state. A replay renders nothing.

Deferring is exact: the models to re-render are found from the classes as they were
last rendered, which relate to at least the models the newer descriptions relate to
(every relation an operation adds or drops puts both ends in the set itself), so the
set is never smaller than Tortoise's own; a re-render of an unchanged model builds the
same class. Reading ``state.apps`` with re-renders pending renders them first, so code
that reads the classes (a newer Tortoise's ``state_forward`` included) never sees stale
ones; only ``split_reference``, which reads no class, is served without rendering.

A render also builds each model's filter table (``name__in``, ``name__gte`` … per field):
~86,000 calls of Tortoise's ``get_filters_for_field`` a pass, a third of its time, for
tables that depend only on the field's name, column and class. While ``LazyState``
renders, those calls are answered from one table per distinct field (``SharedFilters``),
and the dialect's overrides of each entry are looked up once; the entries are the same
values Tortoise builds, shared between classes, which only read them (Tortoise copies an
entry before changing it). The swap lasts for the render only, which runs without
awaiting, so no other code of the process meets it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from copy import copy
from typing import Any

import tortoise.models
from tortoise.contrib.postgres.fields import ArrayField
from tortoise.fields.relational import BackwardFKRelation, ManyToManyFieldInstance
from tortoise.filters import FilterInfoDict, get_filters_for_field
from tortoise.migrations.schema_generator.state import State
from tortoise.migrations.schema_generator.state_apps import StateApps
from tortoise.models import MetaInfo

ModelKey = tuple[str, str]


class SharedFilters:
    """Tortoise's filter tables, one per distinct field and one dialect override per
    entry, for the duration of renders (``active``)."""

    def __init__(self) -> None:
        self.tables: dict[tuple[Any, ...], dict[str, FilterInfoDict]] = {}
        # Keyed by the id of an entry of ``tables``, which keeps the entry (and so its id)
        # for good; entries of the tables built every time are not kept.
        self.shared: set[int] = set()
        self.overridden: dict[tuple[type, int], FilterInfoDict] = {}

    def for_field(
        self, field_name: str, field: Any, source_field: str
    ) -> dict[str, FilterInfoDict]:
        """``get_filters_for_field``; the tables of relations and arrays, which read more
        of the field than its class, are built every time, as Tortoise does."""
        if field is None or isinstance(
            field, ManyToManyFieldInstance | BackwardFKRelation | ArrayField
        ):
            return get_filters_for_field(field_name, field, source_field)
        named = field.model_field_name if field_name == "pk" else None
        key = (field_name, source_field, type(field), named)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = get_filters_for_field(field_name, field, source_field)
            self.shared.update(id(entry) for entry in table.values())
        return table

    def generate(self, meta: MetaInfo) -> None:
        """``MetaInfo._generate_filters``: each entry with the dialect's operator."""
        executor = meta.db.executor_class
        for key, entry in meta._filters.items():
            final = self.overridden.get((executor, id(entry)))
            if final is None:
                operator = executor.get_overridden_filter_func(
                    filter_func=entry["operator"], filter_info=entry
                )
                final = entry
                if operator:
                    final = copy(entry)
                    final["operator"] = operator
                if id(entry) in self.shared:
                    self.overridden[(executor, id(entry))] = final
            meta.filters[key] = final

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        builder, generator = tortoise.models.get_filters_for_field, MetaInfo._generate_filters
        tortoise.models.get_filters_for_field = self.for_field
        MetaInfo._generate_filters = lambda meta: self.generate(meta)  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            tortoise.models.get_filters_for_field = builder
            MetaInfo._generate_filters = generator  # type: ignore[method-assign]


SHARED_FILTERS = SharedFilters()


class PendingApps:
    """``state.apps`` while re-renders are pending: renders them on any use but
    ``split_reference`` (a parse of ``"app.Model"``)."""

    def __init__(self, state: LazyState) -> None:
        self._state = state

    def split_reference(self, reference: Any) -> tuple[str, str]:
        if isinstance(reference, str):
            return self._state.rendered_apps().split_reference(reference)
        return self._state.render().split_reference(reference)  # reads the class

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state.render(), name)


class LazyState(State):
    """A ``State`` whose ``reload_model(s)`` are deferred to the next read of ``apps``."""

    def __init__(self, models: dict[ModelKey, Any], apps: StateApps) -> None:
        self._pending: set[ModelKey] = set()
        self._validate_pending = False
        self._apps = apps
        super().__init__(models=models, apps=apps)

    @property
    def apps(self) -> StateApps:
        if self._pending or self._validate_pending:
            return PendingApps(self)  # type: ignore[return-value]
        return self._apps

    @apps.setter
    def apps(self, value: StateApps) -> None:
        self._apps = value

    def rendered_apps(self) -> StateApps:
        """The classes as last rendered, pending re-renders or not."""
        return self._apps

    @property
    def pending(self) -> frozenset[ModelKey]:
        return frozenset(self._pending)

    def reload_model(self, app_label: str, model_name: str) -> None:
        if (app_label, model_name) not in self.models:
            raise LookupError(f"Model state {app_label}.{model_name} is unknown")
        self._pending.add((app_label, model_name))

    def reload_models(self, model_tuples: Iterable[ModelKey]) -> None:
        self._pending.update(model_tuples)

    def validate_relations_initialized(self) -> None:
        """Checked on the classes, so at the next render if one is pending (before any
        database work reads them)."""
        if self._pending:
            self._validate_pending = True
        else:
            super().validate_relations_initialized()

    def render(self) -> StateApps:
        """The pending re-renders, as Tortoise's ``reload_models`` does them."""
        pending, self._pending = self._pending, set()
        validate, self._validate_pending = self._validate_pending, False
        if pending:
            with SHARED_FILTERS.active():
                State.reload_models(self, pending)
        if validate:
            super().validate_relations_initialized()
        return self._apps

    def _reload(self, models_to_reload: set[ModelKey]) -> None:
        """Tortoise's ``_reload``, finishing (query builders, filters) only the classes
        it rendered or whose relations it completed: the others are the very classes
        finished before, which a render of unrelated models does not touch (the set to
        re-render is closed under relations)."""
        apps = self._apps
        for app_label, model_name in models_to_reload:
            apps.unregister_model(app_label, model_name)
            apps.register_model(app_label, self.models[(app_label, model_name)].render(apps))
        everything = apps.apps
        to_finish = {
            label: {
                name: model
                for name, model in models.items()
                if (label, name) in models_to_reload or not model._meta._inited
            }
            for label, models in everything.items()
        }
        apps._init_relations()
        apps.apps = to_finish
        try:
            apps._build_initial_querysets()
        finally:
            apps.apps = everything

    def copy_unrendered(self) -> LazyState:
        """A copy of the descriptions, its classes rendered only if read: the state
        before an operation that might read it (Tortoise renders a full copy each time)."""
        models = {key: model.clone() for key, model in self.models.items()}
        apps = StateApps(
            default_connections=dict(self._apps._default_connections),
            connections=self._apps._connections,
        )
        copy = LazyState(models=models, apps=apps)
        copy._pending = set(models)
        return copy

    def clone(self) -> State:
        """Rendered from the descriptions, as Tortoise's: pending re-renders are moot."""
        models = {key: model.clone() for key, model in self.models.items()}
        with SHARED_FILTERS.active():
            apps = self._apps.clone(model_states=models)
        return LazyState(models=models, apps=apps)

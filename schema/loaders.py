"""Per-request DataLoaders: each batches the lookups of one resolver across all parent
objects into one query, so a page of 50 policies costs as many queries as a page of 1."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from models.customers import Customer
from models.policies import Beneficiary, Coverage, InsuredPerson, PremiumInstallment

M = TypeVar("M")


def group_by(
    rows: Iterable[M], keys: Sequence[uuid.UUID], key: Callable[[M], Any]
) -> list[list[M]]:
    grouped: defaultdict[Any, list[M]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return [grouped.get(k, []) for k in keys]


def children_loader(model: Any, order: str) -> DataLoader[uuid.UUID, list[Any]]:
    async def load(policy_ids: list[uuid.UUID]) -> list[list[Any]]:
        rows = await model.filter(policy_id__in=policy_ids).order_by(order)
        return group_by(rows, policy_ids, lambda row: row.policy_id)

    return DataLoader(load_fn=load)


class Loaders:
    @cached_property
    def coverages(self) -> DataLoader[uuid.UUID, list[Coverage]]:
        return children_loader(Coverage, "position")

    @cached_property
    def insured_persons(self) -> DataLoader[uuid.UUID, list[InsuredPerson]]:
        return children_loader(InsuredPerson, "position")

    @cached_property
    def beneficiaries(self) -> DataLoader[uuid.UUID, list[Beneficiary]]:
        return children_loader(Beneficiary, "position")

    @cached_property
    def installments(self) -> DataLoader[uuid.UUID, list[PremiumInstallment]]:
        return children_loader(PremiumInstallment, "sequence")

    @cached_property
    def customers(self) -> DataLoader[uuid.UUID, Customer | None]:
        async def load(ids: list[uuid.UUID]) -> list[Customer | None]:
            found = {c.id: c for c in await Customer.filter(id__in=ids)}
            return [found.get(i) for i in ids]

        return DataLoader(load_fn=load)

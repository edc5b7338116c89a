"""Per-request DataLoaders: each batches the lookups of one resolver across all parent
objects into one query, so a page of 100 claims, orders or notifications costs as many
queries as a page of 1 (``tests/schema/test_query_counts.py`` counts them).

A loader caches what it read for the rest of the request. ``FreshReads`` (on every root
mutation and subscription field, see ``schema/__init__.py``) drops the request's loaders
around each write and before each subscription event, so nothing read before a change is
served after it.
"""

from __future__ import annotations

import inspect
import uuid
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from models.claims import ClaimDocument, ClaimEvent, ClaimLine, InvestigationNote, PayoutShare
from models.commitments import CommitmentCase
from models.customers import Customer
from models.notifications import Delivery
from models.payments import Payout, Refund
from models.policies import InsuredPerson, Policy, PremiumInstallment
from schema.policies.rows import PolicyChildren, read_children

M = TypeVar("M")


def group_by(
    rows: Iterable[M], keys: Sequence[uuid.UUID], key: Callable[[M], Any]
) -> list[list[M]]:
    grouped: defaultdict[Any, list[M]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return [grouped.get(k, []) for k in keys]


def children_loader(
    model: Any, order: str, parent: str = "policy_id", related: tuple[str, ...] = ()
) -> DataLoader[uuid.UUID, list[Any]]:
    """The rows of ``model`` of each parent (its ``parent`` column), in ``order``."""

    async def load(parent_ids: list[uuid.UUID]) -> list[list[Any]]:
        queryset = model.filter(**{f"{parent}__in": parent_ids}).order_by(order, "id")
        if related:
            queryset = queryset.select_related(*related)
        return group_by(await queryset, parent_ids, lambda row: getattr(row, parent))

    return DataLoader(load_fn=load)


class Loaders:
    # ---------------------------------------------------------------- policies
    @cached_property
    def policies(self) -> DataLoader[uuid.UUID, Policy]:
        """Policies with their product, for what hangs off one (a foreign key: never
        missing)."""

        async def load(ids: list[uuid.UUID]) -> list[Policy]:
            found = {p.id: p for p in await Policy.filter(id__in=ids).select_related("product")}
            return [found[i] for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def policy_children(self) -> DataLoader[uuid.UUID, PolicyChildren]:
        """Coverages, insured persons, beneficiaries and installments of each policy, as
        rows: one statement for all four lists of every policy asked for."""

        async def load(ids: list[uuid.UUID]) -> list[PolicyChildren]:
            found = await read_children(ids)
            return [found[i] for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def insured_persons(self) -> DataLoader[uuid.UUID, list[InsuredPerson]]:
        return children_loader(InsuredPerson, "position")

    @cached_property
    def installment(self) -> DataLoader[uuid.UUID, PremiumInstallment]:
        """One installment by its ID (a payment order's: a foreign key, never missing)."""

        async def load(ids: list[uuid.UUID]) -> list[PremiumInstallment]:
            found = {i.id: i for i in await PremiumInstallment.filter(id__in=ids)}
            return [found[i] for i in ids]

        return DataLoader(load_fn=load)

    @cached_property
    def customers(self) -> DataLoader[uuid.UUID, Customer | None]:
        async def load(ids: list[uuid.UUID]) -> list[Customer | None]:
            found = {c.id: c for c in await Customer.filter(id__in=ids)}
            return [found.get(i) for i in ids]

        return DataLoader(load_fn=load)

    # ---------------------------------------------------------------- claims
    @cached_property
    def claim_events(self) -> DataLoader[uuid.UUID, list[ClaimEvent]]:
        return children_loader(ClaimEvent, "created_at", "claim_id")

    @cached_property
    def claim_documents(self) -> DataLoader[uuid.UUID, list[ClaimDocument]]:
        return children_loader(ClaimDocument, "created_at", "claim_id")

    @cached_property
    def claim_lines(self) -> DataLoader[uuid.UUID, list[ClaimLine]]:
        return children_loader(ClaimLine, "created_at", "claim_id", related=("coverage",))

    @cached_property
    def investigation_notes(self) -> DataLoader[uuid.UUID, list[InvestigationNote]]:
        return children_loader(InvestigationNote, "created_at", "claim_id")

    @cached_property
    def payouts(self) -> DataLoader[uuid.UUID, list[Payout]]:
        return children_loader(Payout, "-created_at", "claim_id")

    @cached_property
    def payout_shares(self) -> DataLoader[uuid.UUID, list[PayoutShare]]:
        return children_loader(PayoutShare, "position", "claim_id")

    # ---------------------------------------------------------------- commitments
    @cached_property
    def commitment_cases(self) -> DataLoader[uuid.UUID, list[CommitmentCase]]:
        """The promise cases of claims, complaints or conversations (their IDs)."""
        return children_loader(CommitmentCase, "started_at", "subject_id", ("commitment",))

    # ---------------------------------------------------------------- payments
    @cached_property
    def refunds(self) -> DataLoader[uuid.UUID, list[Refund]]:
        return children_loader(Refund, "created_at", "order_id")

    # ---------------------------------------------------------------- notifications
    @cached_property
    def deliveries(self) -> DataLoader[uuid.UUID, list[Delivery]]:
        return children_loader(Delivery, "created_at", "notification_id")


class FreshReads(FieldExtension):
    """On a root mutation or subscription field: the request's loaders are dropped before
    the resolver and after its writes (a mutation), or before each event (a subscription)."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        info.context.forget_reads()
        result = next_(source, info, **kwargs)
        info.context.forget_reads()
        return result

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any] | Any], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        info.context.forget_reads()
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        if inspect.isasyncgen(result):
            return _fresh_each(result, info)
        info.context.forget_reads()
        return result


async def _fresh_each(events: AsyncGenerator[Any, Any], info: Info) -> AsyncIterator[Any]:
    try:
        async for event in events:
            info.context.forget_reads()
            yield event
    finally:
        await events.aclose()

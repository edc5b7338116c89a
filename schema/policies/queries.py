"""Policy queries: a customer's own policies, one policy, and the staff search."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from models import policies as m
from models.customers import Customer as CustomerModel
from models.pii import ID_NUMBER_PATTERN, normalize_id_number, normalize_phone
from schema.common import (
    Connection,
    CursorArg,
    PageArg,
    connection,
    forward_window,
    page_of,
    windowed_page,
)
from schema.errors import UserInputError
from schema.node import resolve_node
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from schema.policies.rows import PAGE_COLUMNS, read_customer_page
from schema.policies.types import Policy, policy_nodes
from workflows.access import Permission, visible_policies


@strawberry.input(description="Narrow a list of policies; empty lists mean no restriction.")
class PolicyFilter:
    status: list[m.PolicyStatus] | None = strawberry.field(
        default=None, description="Only policies in one of these statuses."
    )
    product_kind: list[m.ProductKind] | None = strawberry.field(
        default=None, description="Only policies of products of these kinds."
    )


@strawberry.input(description="Find policies by any of these; at least one is required.")
class PolicySearchInput:
    number: str | None = strawberry.field(default=None, description="Exact policy number.")
    holder_phone: str | None = strawberry.field(
        default=None, description="The holder's mobile number."
    )
    id_number: str | None = strawberry.field(
        default=None, description="ID-card number of the holder or an insured person."
    )


def _ordered(queryset: QuerySet[m.Policy]) -> QuerySet[m.Policy]:
    return queryset.select_related("product").order_by("-starts_at", "number")


def _apply_filter(queryset: QuerySet[m.Policy], where: PolicyFilter | None) -> QuerySet[m.Policy]:
    if where and where.status:
        queryset = queryset.filter(status__in=list(where.status))
    if where and where.product_kind:
        queryset = queryset.filter(product__kind__in=list(where.product_kind))
    return queryset


def _search_condition(info: Info, search: PolicySearchInput) -> Q | None:
    """Phone and ID numbers are matched by their keyed hashes, never decrypted in SQL."""
    pii = info.context.services.pii
    conditions = []
    if search.number and search.number.strip():
        conditions.append(Q(number=search.number.strip().upper()))
    if search.holder_phone and search.holder_phone.strip():
        phone_hash = pii.phone_hash(normalize_phone(search.holder_phone))
        holders = CustomerModel.filter(phone_hash=phone_hash).values("id")
        conditions.append(Q(holder_id__in=Subquery(holders)))
    if search.id_number and search.id_number.strip():
        id_number = normalize_id_number(search.id_number)
        if not ID_NUMBER_PATTERN.match(id_number):
            raise UserInputError("身份证号码格式不正确")
        id_hash = pii.id_number_hash(id_number)
        holders = CustomerModel.filter(id_number_hash=id_hash).values("id")
        insured = m.InsuredPerson.filter(id_number_hash=id_hash).values("policy_id")
        conditions.append(Q(holder_id__in=Subquery(holders)) | Q(id__in=Subquery(insured)))
    if not conditions:
        return None
    return Q(*conditions, join_type=Q.AND)


async def _rows(queryset: QuerySet[m.Policy], extra: tuple[str, ...]) -> list[dict[str, Any]]:
    return await queryset.values(*PAGE_COLUMNS, *extra)


async def _page(
    info: Info,
    queryset: QuerySet[m.Policy],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Policy]:
    """A page of policies read as rows (product and holder joined, the total with it),
    their lists in one more statement when the query asks for them."""
    page = await page_of(queryset, first=first, after=after, last=last, before=before, fetch=_rows)
    return connection(page, await policy_nodes(info, page.rows))


@strawberry.type
class PolicyQueries:
    @strawberry.field(
        description="Policies where I am holder, insured or beneficiary, newest cover first.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_policies(
        self,
        info: Info,
        filter: Annotated[
            PolicyFilter | None, strawberry.argument(description="Narrow the list.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Policy]:
        actor = info.context.actor
        window = forward_window(first=first, after=after, last=last, before=before)
        if window is not None and actor.is_customer and actor.subject_id is not None:
            # the common case, by hand: the query builder costs more than the statement
            start, size = window
            rows = await read_customer_page(
                actor.subject_id,
                start=start,
                limit=size,
                statuses=[s.value for s in filter.status] if filter and filter.status else None,
                kinds=[k.value for k in filter.product_kind]
                if filter and filter.product_kind
                else None,
            )
            if rows or not start:
                page = windowed_page(rows, start, 0)
                return connection(page, await policy_nodes(info, page.rows))
        queryset = _ordered(_apply_filter(visible_policies(actor), filter))
        return await _page(info, queryset, first=first, after=after, last=last, before=before)

    @strawberry.field(
        description="One policy by its ID; null if it does not exist or is not yours. "
        "Staff need POLICY_READ.",
        permission_classes=[IsAuthenticated],
    )
    async def policy(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The policy's global ID.")],
    ) -> Policy | None:
        if id.type_name != "Policy":
            return None
        node = await resolve_node(info, id)
        return node if isinstance(node, Policy) else None

    @strawberry.field(
        description="One policy by its number; null if it does not exist or is not yours. "
        "Staff need POLICY_READ.",
        permission_classes=[IsAuthenticated],
    )
    async def policy_by_number(
        self,
        info: Info,
        number: Annotated[str, strawberry.argument(description="The policy number.")],
    ) -> Policy | None:
        row = await _ordered(
            visible_policies(info.context.actor).filter(number=number.strip().upper())
        ).first()
        return Policy.from_model(row, info.context) if row else None

    @strawberry.field(
        description="Staff (POLICY_SEARCH): find policies by number, holder phone or ID number.",
        permission_classes=staff_only(Permission.POLICY_SEARCH),
    )
    async def search_policies(
        self,
        info: Info,
        input: Annotated[PolicySearchInput, strawberry.argument(description="What to search by.")],
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Policy]:
        condition = _search_condition(info, input)
        if condition is None:
            raise UserInputError("请至少填写保单号、手机号或身份证号之一")
        queryset = _ordered(visible_policies(info.context.actor).filter(condition))
        return await _page(info, queryset, first=first, after=after, last=last, before=before)

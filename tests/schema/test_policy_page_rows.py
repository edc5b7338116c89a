"""The hand-written read of a customer's page of policies (``read_customer_page``)
returns exactly what the query builder reads for ``visible_policies``: the same
policies (who may see which is one rule, kept in ``workflows.access``), in the same
order, with the same Python values in every column (``RAW_COLUMNS`` once the model's
field has decoded them, as ``Product.loss_types`` does when asked)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services import Services
from models import policies as m
from models.auth import SubjectKind
from schema.common import PAGE_TOTAL
from schema.policies.rows import PAGE_COLUMNS, RAW_COLUMNS, read_customer_page
from tests.factories import make_customer, make_policy, make_product
from workflows.access import Actor, visible_policies


async def _by_query_builder(
    actor: Actor, start: int, limit: int, statuses: list[str], kinds: list[str]
) -> list[dict[str, Any]]:
    queryset = visible_policies(actor)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if kinds:
        queryset = queryset.filter(product__kind__in=kinds)
    rows = await (
        queryset.select_related("product")
        .order_by("-starts_at", "number")
        .offset(start)
        .limit(limit)
        .values(*PAGE_COLUMNS)
    )
    total = await queryset.count()
    return [row | {PAGE_TOTAL: total} for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    field = m.Product._meta.fields_map["loss_types"]
    assert set(RAW_COLUMNS) == {"product__loss_types"}
    return row | {"product__loss_types": field.to_python_value(row["product__loss_types"])}


async def test_the_hand_written_page_is_the_visible_page(services: Services) -> None:
    me = await make_customer(services, "张伟")
    other = await make_customer(services, "李娜")
    health = await make_product(m.ProductKind.HEALTH)
    mine = [
        await make_policy(services, me),
        await make_policy(services, me, status=m.PolicyStatus.EXPIRED),
        await make_policy(services, other, insured=[me], product=health),
        await make_policy(services, other, beneficiaries=[me]),
        await make_policy(services, me, status=m.PolicyStatus.PENDING),
    ]
    # not mine: another's, and my own not yet issued
    await make_policy(services, other)
    await make_policy(services, me, status=m.PolicyStatus.AWAITING_PAYMENT)
    await make_policy(services, me, status=m.PolicyStatus.NOT_TAKEN_UP)
    # two start at the same moment: the number orders them
    first = await m.Policy.get(id=mine[0].id)
    await m.Policy.filter(id=mine[3].id).update(starts_at=first.starts_at)
    await m.Policy.filter(id=mine[1].id).update(starts_at=first.starts_at - timedelta(days=9))

    for customer in (me, other):
        actor = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)
        for start, limit, statuses, kinds in [
            (0, 10, [], []),
            (1, 2, [], []),
            (0, 10, ["ACTIVE"], []),
            (0, 10, [], ["HEALTH"]),
            (0, 10, ["ACTIVE", "EXPIRED"], ["AUTO"]),
        ]:
            expected = await _by_query_builder(actor, start, limit, statuses, kinds)
            found = [
                _decoded(row)
                for row in await read_customer_page(
                    customer.id, start=start, limit=limit, statuses=statuses, kinds=kinds
                )
            ]
            assert found == expected, (customer.name, start, limit, statuses, kinds)
            for row, want in zip(found, expected, strict=True):
                assert [type(v) for v in row.values()] == [type(v) for v in want.values()]
    everything = await read_customer_page(me.id, start=0, limit=10)
    assert {row["id"] for row in everything} == {p.id for p in mine}
    # the products' loss types are not decoded for a page that does not show them
    assert all(isinstance(row["product__loss_types"], str) for row in everything)

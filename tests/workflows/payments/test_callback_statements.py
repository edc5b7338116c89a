"""What one provider callback costs the database (issue 19: signed callbacks at
>= 1,000/s on PostgreSQL): the statements of a recorded payment and of a provider's
retry of it. On PostgreSQL every round trip counts, transaction control and the pool's
reset included; on both backends the ORM's statements."""

from __future__ import annotations

import httpx
import pytest

from api.services import Services
from models.payments import LedgerEntry, PaymentOrder
from tests.conftest import postgres_only
from tests.sql_counter import counting_round_trips, counting_statements
from tests.workflows.payments.test_orders import Payer, create, notify, payer, sandbox

__all__ = ["payer"]  # the fixture

# A recorded payment: the order read, then in one transaction the order marked paid (its
# row lock), the installment paid, the ledger entry, what the installment pays for (one
# read: an issued policy's installment has no renewal to carry over), the outbox event.
PAYMENT_STATEMENTS = 6
PAYMENT_ROUND_TRIPS = PAYMENT_STATEMENTS + 2  # BEGIN, COMMIT; no reset
DUPLICATE_STATEMENTS = 1  # the same read: no transaction, no lock


@pytest.fixture
async def callback(
    client: httpx.AsyncClient, services: Services, payer: Payer
) -> tuple[dict[str, str], bytes]:
    started = await create(client, payer, "key-0101-abcdef")
    order = await PaymentOrder.get(order_number=started["order"]["orderNumber"])
    return sandbox(services).paid_notification(order.order_number, order.amount)


async def test_a_payment_and_its_retry_cost_few_statements(
    client: httpx.AsyncClient, callback: tuple[dict[str, str], bytes]
) -> None:
    with counting_statements() as counter:
        first = await notify(client, *callback)
        paid = list(counter.statements)
        counter.statements.clear()
        again = await notify(client, *callback)
        retried = list(counter.statements)
    assert (first.content, again.content) == (b"success", b"success")
    assert len(paid) == PAYMENT_STATEMENTS, paid
    assert len(retried) == DUPLICATE_STATEMENTS, retried
    assert await LedgerEntry.all().count() == 1


@postgres_only
async def test_a_payment_and_its_retry_cost_few_round_trips(
    client: httpx.AsyncClient, callback: tuple[dict[str, str], bytes]
) -> None:
    async with counting_round_trips() as trips:
        first = await notify(client, *callback)
        paid = await trips.sent()
        trips.clear()
        again = await notify(client, *callback)
        retried = await trips.sent()
    assert (first.content, again.content) == (b"success", b"success")
    assert len(paid) == PAYMENT_ROUND_TRIPS, paid
    assert paid[1].startswith("BEGIN") and paid[-1].startswith("COMMIT")
    assert "FOR UPDATE" not in paid[0]  # the first read takes no lock
    assert len(retried) == DUPLICATE_STATEMENTS, retried

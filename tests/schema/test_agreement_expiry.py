"""A withholding agreement asked for but never signed expires after 24 hours: the change
EXPIRED (the customer told why), its agreement ABANDONED and its sign page no longer
offered, a new request possible; a signing that still arrives from the old page is
ended and unsigned at Alipay, nothing put on file. Against the fake Alipay gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.services import Services
from models.endorsements import Endorsement, EndorsementStatus
from models.notifications import OutboxEvent
from models.policy_accounts import AgreementStatus, CollectionAgreement
from push.templates import render
from tests.factories import customer_token, make_customer, make_policy
from tests.fakes.alipay import FakeAlipay
from tests.graphql import gql
from tests.payment_account_helpers import (
    ENDORSEMENT,
    alipay_settings,
    change,
    notify,
    running_fake_alipay,
)
from workflows.policy_service.expiry import expire_unsigned_agreements


@pytest.fixture
async def fake_alipay() -> AsyncIterator[FakeAlipay]:
    async with running_fake_alipay() as fake:
        yield fake


@pytest.fixture
def settings_overrides(fake_alipay: FakeAlipay) -> dict[str, Any]:
    return alipay_settings(fake_alipay)


async def test_an_agreement_not_signed_in_24_hours_expires_and_a_new_one_can_be_asked(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder)
    asked = await change(client, token, policy, "sign-exp-0001-ab", {"collection": "ALIPAY"})
    endorsement = asked["endorsement"]
    url = endorsement["paymentAccount"]["signUrl"]
    assert endorsement["status"] == "REQUESTED" and url
    waiting = await change(client, token, policy, "sign-exp-0002-ab", {"collection": "ALIPAY"})
    assert waiting["errors"][0]["code"] == "CHANGE_PENDING"

    now = datetime.now(UTC)
    assert await expire_unsigned_agreements(now + timedelta(hours=23)) == 0
    assert await expire_unsigned_agreements(now + timedelta(hours=25)) == 1
    assert await expire_unsigned_agreements(now + timedelta(hours=26)) == 0  # once
    row = await Endorsement.get(number=endorsement["number"])
    assert row.status is EndorsementStatus.EXPIRED and row.open_key is None
    agreement = await CollectionAgreement.get(endorsement_id=row.id)
    assert agreement.status is AgreementStatus.ABANDONED
    seen = await gql(client, ENDORSEMENT, {"id": endorsement["id"]}, token=token)
    node = seen["data"]["node"]
    assert node["status"] == "EXPIRED" and node["timeline"][-1]["action"] == "expire"
    assert node["paymentAccount"] == {"agreementStatus": "ABANDONED", "signUrl": None}
    notice = await OutboxEvent.get(event_type="endorsement.expired")
    assert notice.customer_id == holder.id
    assert "超过24小时未完成支付宝代扣签约" in render(notice.event_type, notice.payload).body

    again = await change(client, token, policy, "sign-exp-0003-ab", {"collection": "ALIPAY"})
    assert again["errors"] == [] and again["endorsement"]["status"] == "REQUESTED"

    # The old page signed late: ended at once and unsigned at Alipay, nothing on file.
    signed = fake_alipay.sign_agreement(url)
    answer = await notify(
        client, fake_alipay, fake_alipay.agreement_notification(signed.agreement_no)
    )
    assert answer.text == "success"
    assert fake_alipay.agreements[signed.agreement_no].status == "UNSIGN"
    assert not await CollectionAgreement.exists(live_key=str(policy.id))
    assert (await Endorsement.get(id=row.id)).status is EndorsementStatus.EXPIRED


async def test_a_signed_agreement_is_not_expired(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder)
    asked = await change(client, token, policy, "sign-ok-0001-abc", {"collection": "ALIPAY"})
    signed = fake_alipay.sign_agreement(asked["endorsement"]["paymentAccount"]["signUrl"])
    answer = await notify(
        client, fake_alipay, fake_alipay.agreement_notification(signed.agreement_no)
    )
    assert answer.text == "success"
    assert await expire_unsigned_agreements(datetime.now(UTC) + timedelta(hours=25)) == 0
    row = await Endorsement.get(number=asked["endorsement"]["number"])
    assert row.status is EndorsementStatus.EFFECTIVE

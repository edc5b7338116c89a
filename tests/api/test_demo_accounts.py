"""The demo's accounts on file: 张伟's policy bought online has his bank card as payout
account (a PAYMENT_ACCOUNT change), an Alipay withholding agreement on file and
automatic renewal on."""

from __future__ import annotations

from api.demo import seed
from api.demo_accounts import seed_accounts
from api.demo_policy_buy import seed_policy_buy
from api.services import Services
from api.settings import Settings
from models.endorsements import Endorsement, EndorsementStatus, EndorsementType
from models.policy_accounts import AgreementStatus, CollectionAgreement, PolicyAccount
from workflows.policy_service.payment_account import on_file


async def test_the_demo_policy_has_accounts_on_file_and_auto_renewal(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_policy_buy(services)
    await seed_accounts(services)
    changes = await Endorsement.filter(type=EndorsementType.PAYMENT_ACCOUNT)
    assert {row.status for row in changes} == {EndorsementStatus.EFFECTIVE}
    assert len(changes) == 2
    [account] = await PolicyAccount.all()
    assert account.auto_renewal
    agreement = await CollectionAgreement.get(live_key=str(account.policy_id))
    assert agreement.status is AgreementStatus.ACTIVE
    assert await on_file(account.policy_id) == {
        "collection": "支付宝代扣 138******01",
        "payout": "招商银行 尾号0010",
    }

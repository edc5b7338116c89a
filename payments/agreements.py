"""Withholding agreements (代扣协议): the customer signs once at the provider that the
merchant may charge their account later without the cashier; the merchant then charges
with the agreement's number. A provider that offers it is an ``AgreementProvider``
besides its ``PaymentProvider`` methods (Alipay 商户代扣 today).

The three steps, as Alipay has them:

- **sign**: a page URL signed with the app key (``alipay.user.agreement.page.sign``);
  the customer opens it and confirms in Alipay; the outcome arrives as a signed
  notification to ``notify_url`` (``dut_user_sign``: ``agreement_no``, ``status``), and
  an ending as ``dut_user_unsign``;
- **charge**: ``alipay.trade.pay`` with ``product_code=GENERAL_WITHHOLDING`` and the
  ``agreement_no``: paid at once, refused (balance, agreement ended), or "in process"
  (the usual trade notification or a query settles it);
- **end**: ``alipay.user.agreement.unsign``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from payments.base import TradeStatus


class AgreementState(StrEnum):
    ACTIVE = "ACTIVE"  # Alipay NORMAL: charges may be made
    ENDED = "ENDED"  # Alipay UNSIGN (by the customer in Alipay, or by us)


@dataclass(frozen=True)
class AgreementSignRequest:
    external_agreement_no: str  # ours: one per signing, unique at the merchant
    notify_url: str
    logon_hint: str | None = None  # shown masked on the sign page (e.g. the phone)
    return_url: str | None = None  # where the browser goes after signing


@dataclass(frozen=True)
class AgreementNotification:
    """A verified agreement notification: only the provider's signed fields."""

    external_agreement_no: str
    agreement_no: str
    state: AgreementState
    app_id: str
    payer_id: str | None  # Alipay: the 2088… user id that signed
    payer_masked: str | None  # Alipay: the logon id, masked by Alipay
    occurred_at: datetime | None
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WithholdRequest:
    order_number: str  # ours: out_trade_no
    agreement_no: str
    amount: Decimal
    subject: str
    notify_url: str


@runtime_checkable
class AgreementProvider(Protocol):
    name: str
    app_id: str

    def agreement_sign_url(self, request: AgreementSignRequest) -> str:
        """The signed page the customer opens to sign (no call to the gateway)."""
        ...

    def parse_agreement_notification(self, body: bytes) -> AgreementNotification:
        """Verify and decode; raise ``InvalidNotification`` otherwise."""
        ...

    async def withhold(self, request: WithholdRequest) -> TradeStatus:
        """Charge with the agreement: PAID, or WAITING (in process: query later);
        ``ProviderRejected`` when refused for good (balance, agreement ended)."""
        ...

    async def unsign(self, agreement_no: str) -> None: ...

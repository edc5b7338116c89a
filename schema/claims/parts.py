"""What hangs off a claim: timeline, decision lines, rejection, requests, notes,
documents and payouts, as the customer or staff sees them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import claims as m
from models.clock import local_time
from models.payments import Payout
from schema.claims.enums import ClaimStatus, PayoutStatus, RejectionReason, TransferProvider
from schema.common import CheckoutParam, Money, cny
from schema.permissions import staff_only
from storage.base import ObjectStorage, download_name
from workflows.access import Permission
from workflows.payments.payout_failures import payee_text


@strawberry.type(description="One step of a claim's timeline.")
class ClaimTimelineEntry:
    action: str = strawberry.field(description="What happened, e.g. `submit`, `decide`.")
    actor_kind: str = strawberry.field(description="`customer`, `staff` or `system`.")
    from_status: ClaimStatus | None = strawberry.field(description="Status before.")
    to_status: ClaimStatus = strawberry.field(description="Status after.")
    note: str = strawberry.field(description="What the customer is told, in Chinese.")
    at: datetime = strawberry.field(description="When (Asia/Shanghai).")

    @classmethod
    def from_model(cls, event: m.ClaimEvent) -> ClaimTimelineEntry:
        return cls(
            action=event.action,
            actor_kind=event.actor_kind,
            from_status=event.from_status,
            to_status=event.to_status,
            note=event.note,
            at=local_time(event.created_at),
        )


@strawberry.type(description="The decision for one coverage, explained.")
class ClaimDecisionLine:
    coverage_name: str = strawberry.field(description="The coverage (保障责任).")
    claimed_amount: Money = strawberry.field(description="What was claimed.")
    deductible_applied: Money = strawberry.field(description="Deductible taken off.")
    approved_amount: Money = strawberry.field(description="What is paid.")
    reason: str = strawberry.field(description="The rule or reason, in Chinese.")

    @classmethod
    def from_model(cls, line: m.ClaimLine) -> ClaimDecisionLine:
        """``line`` with its coverage fetched."""
        return cls(
            coverage_name=line.coverage.name,
            claimed_amount=cny(line.claimed_amount),
            deductible_applied=cny(line.deductible_applied),
            approved_amount=cny(line.approved_amount),
            reason=line.reason,
        )


@strawberry.type(description="A rejection, as the customer sees it.")
class ClaimRejection:
    reason: RejectionReason = strawberry.field(description="Reason code.")
    reason_name: str = strawberry.field(description="The reason, in Chinese.")
    explanation: str = strawberry.field(description="The explanation given.")


@strawberry.type(description="What the adjuster asked for, once, with the reason.")
class MoreInfoRequest:
    items: list[str] = strawberry.field(description="Everything still needed.")
    reason: str = strawberry.field(description="Why.")
    requested_at: datetime = strawberry.field(description="When it was asked.")


@strawberry.type(description="A staff-only investigation note.")
class InvestigationNote:
    """Written once and never changed, read only inside its claim: no identity needed."""

    text: str = strawberry.field(description="The note.")
    author_id: relay.GlobalID = strawberry.field(description="The StaffMember who wrote it.")
    at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_model(cls, note: m.InvestigationNote) -> InvestigationNote:
        return cls(
            text=note.text,
            author_id=relay.GlobalID("StaffMember", str(note.author_id)),
            at=local_time(note.created_at),
        )


@strawberry.type(description="A photo or document of a claim.")
class ClaimDocument(relay.Node):
    """An entity (a row). Its links are signed when read, so they are resolved from the
    request's storage rather than stored with it."""

    model: strawberry.Private[m.ClaimDocument]
    id: relay.NodeID[str]
    checklist_code: str = strawberry.field(description="The checklist item it is for.")
    file_name: str = strawberry.field(
        description=(
            "The name to save it under: the uploaded name with the extension of the stored "
            "type (an iPhone's `IMG_4032.HEIC` is stored as JPEG: `IMG_4032.jpg`)."
        )
    )
    content_type: str = strawberry.field(description="`image/jpeg` or `application/pdf`.")
    size: int = strawberry.field(description="Bytes, as stored.")
    width: int | None = strawberry.field(description="Pixels (images).")
    height: int | None = strawberry.field(description="Pixels (images).")
    uploaded_at: datetime = strawberry.field(description="When it was uploaded.")

    @classmethod
    def from_model(cls, row: m.ClaimDocument) -> ClaimDocument:
        return cls(
            model=row,
            id=str(row.id),
            checklist_code=row.checklist_code,
            # Rows stored before names followed the stored type are corrected here.
            file_name=download_name(row.file_name, row.content_type),
            content_type=row.content_type,
            size=row.size,
            width=row.width,
            height=row.height,
            uploaded_at=local_time(row.created_at),
        )

    @strawberry.field(description="A short-lived signed link to the file.")
    def url(self, info: Info) -> str:
        storage: ObjectStorage = info.context.services.storage
        return storage.signed_url(
            self.model.storage_key, expires_in=_link_ttl(info), filename=self.file_name
        )

    @strawberry.field(description="A signed link to a thumbnail.")
    def thumbnail_url(self, info: Info) -> str | None:
        if not self.model.thumbnail_key:
            return None
        storage: ObjectStorage = info.context.services.storage
        return storage.signed_url(self.model.thumbnail_key, expires_in=_link_ttl(info))


def _link_ttl(info: Info) -> int:
    ttl: int = info.context.services.settings.signed_url_ttl_seconds
    return ttl


@strawberry.type(description="Where the payee asked the money to go.")
class ClaimPayoutAccount:
    provider: TransferProvider = strawberry.field(
        description="ALIPAY, WECHAT, BANK (a bank card) or SANDBOX."
    )
    account: str = strawberry.field(
        description="The account, masked, as shown in notices (a card: `招商银行 尾号1234`)."
    )

    @classmethod
    def of(cls, row: m.Claim | m.PayoutShare) -> ClaimPayoutAccount | None:
        if not row.payout_provider or not row.payout_account_masked:
            return None
        return cls(
            provider=TransferProvider(row.payout_provider), account=row.payout_account_masked
        )


@strawberry.type(
    description="One beneficiary's share of a claim paid to beneficiaries (a death "
    "benefit): the approved amount split by the shares on the policy (to the fen, the "
    "remainder to the first), each paid to the account its beneficiary chose. The claim "
    "is PAID when every share is."
)
class ClaimPayoutShare(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="The beneficiary, as named on the policy.")
    share_percent: Decimal = strawberry.field(description="Their share, in percent.")
    amount: Money = strawberry.field(
        description="Their part of the approved amount (0 until the claim is decided)."
    )
    payout_account: ClaimPayoutAccount | None = strawberry.field(
        description="The account the beneficiary chose (masked); null before a choice, or "
        "when they have no account with us (staff then pay an account they establish)."
    )
    paid: bool = strawberry.field(description="Whether this share has been paid.")
    mine: bool = strawberry.field(description="Whether it is the calling customer's share.")

    @classmethod
    def from_model(cls, row: m.PayoutShare, mine: bool) -> ClaimPayoutShare:
        return cls(
            id=str(row.id),
            name=row.name,
            share_percent=row.share_percent,
            amount=cny(row.amount),
            payout_account=ClaimPayoutAccount.of(row),
            paid=row.paid_at is not None,
            mine=mine,
        )


@strawberry.type(description="A payout of the claim by provider transfer.")
class ClaimPayout:
    transfer_number: str = strawberry.field(description="Our transfer number.")
    provider: TransferProvider = strawberry.field(description="ALIPAY, WECHAT, BANK or SANDBOX.")
    amount: Money = strawberry.field(description="The amount transferred.")
    status: PayoutStatus = strawberry.field(description="Current status.")
    confirm_package: str | None = strawberry.field(
        description="WeChat, while WAIT_USER_CONFIRM: the bill's package alone (also in "
        "`confirmParameters`, which is what `wx.requestMerchantTransfer` takes)."
    )
    confirm_parameters: list[CheckoutParam] | None = strawberry.field(
        description="WeChat, while WAIT_USER_CONFIRM: what the payee's mini-program passes "
        "to `wx.requestMerchantTransfer` to confirm receipt, as they are: `mchId`, `appId` "
        "and `package`; null otherwise."
    )
    failure_reason: str | None = strawberry.field(
        description="Why it failed or was turned down, in Chinese for the payee: what to "
        "do next, never the provider's own words (those are `failureDetail`)."
    )
    payee: str = strawberry.field(description="The receiving account, masked.")
    reason: str = strawberry.field(
        description="Why staff paid another account than the payee's choice (else empty)."
    )
    detail: strawberry.Private[str | None]

    @classmethod
    def from_model(cls, payout: Payout) -> ClaimPayout:
        cancelled = payout.status is PayoutStatus.CANCELLED
        ended = cancelled or payout.status is PayoutStatus.FAILED
        return cls(
            transfer_number=payout.transfer_number,
            provider=TransferProvider(payout.provider),
            amount=cny(payout.amount),
            status=payout.status,
            confirm_package=payout.confirm_package,
            confirm_parameters=[
                CheckoutParam(key=key, value=value)
                for key, value in (payout.confirm_parameters or {}).items()
            ]
            if payout.status is PayoutStatus.WAIT_USER_CONFIRM and payout.confirm_parameters
            else None,
            failure_reason=payee_text(cancelled, payout.failure_reason) if ended else None,
            payee=payout.payee_masked,
            reason=payout.reason,
            detail=payout.failure_reason,
        )

    @strawberry.field(
        description="Staff (CLAIM_READ): the provider's own reason for a failure (e.g. "
        "WeChat's `NAME_NOT_CORRECT`), or staff's reason for turning it down.",
        permission_classes=staff_only(Permission.CLAIM_READ),
    )
    def failure_detail(self) -> str | None:
        return self.detail


@strawberry.type(description="The archive of a closed claim, for records and audits.")
class ClaimArchive:
    report_number: str = strawberry.field(description="The claim's report number.")
    manifest: str = strawberry.field(
        description="JSON: the claim, its timeline, the decision and every file with its "
        "SHA-256, as archived."
    )
    file_urls: list[str] = strawberry.field(
        description="Short-lived signed links to the files, in manifest order."
    )

"""Personal-information rights in GraphQL (个人信息保护法), for the customer: marketing
consent, the download of my data (a ZIP via a signed link), deletion of what the law
does not require to keep, and the rules that say what is deleted, kept and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import privacy as m
from schema.errors import payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated
from schema.privacy.audit import PrivacyError_
from workflows.access import Actor, Permission
from workflows.privacy import rights
from workflows.privacy.rules import DELETED, KEPT, RETENTION, PrivacyError

strawberry.enum(m.DataExportStatus, description="Whether a data download can still be read.")
MAX_EXPORTS_LISTED = 30


@strawberry.type(description="My marketing consent (营销信息).")
class MarketingConsent(relay.Node):
    id: relay.NodeID[str]
    given: bool = strawberry.field(description="True: offers may be sent to me.")
    changed_at: datetime = strawberry.field(description="When I last gave or withdrew it.")

    @classmethod
    def from_model(cls, row: m.MarketingConsent) -> MarketingConsent:
        return cls(id=str(row.id), given=row.given, changed_at=row.changed_at)


@strawberry.type(description="A download of my personal data: a ZIP of JSON and my files.")
class DataExport(relay.Node):
    id: relay.NodeID[str]
    status: m.DataExportStatus = strawberry.field(description="Readable or expired.")
    size_bytes: int = strawberry.field(description="The ZIP's size.")
    requested_at: datetime = strawberry.field(description="When it was made.")
    expires_at: datetime = strawberry.field(description="When its link stops working.")
    row: strawberry.Private[m.DataExport]

    @strawberry.field(description="A signed link to the ZIP until `expiresAt`; null afterwards.")
    def url(self, info: Info) -> str | None:
        return rights.export_url(info.context.services.storage, self.row)

    @classmethod
    def from_model(cls, row: m.DataExport) -> DataExport:
        return cls(
            id=str(row.id),
            status=row.status,
            size_bytes=row.size_bytes,
            requested_at=row.created_at,
            expires_at=row.expires_at,
            row=row,
        )


@strawberry.type(description="What a deletion request deletes or anonymises.")
class DeletedData:
    kind: str = strawberry.field(description="Stable code, e.g. `DEVICES`.")
    name: str = strawberry.field(description="What it is, in Chinese.")
    how: str = strawberry.field(description="Deleted or anonymised, in Chinese.")
    count: int | None = strawberry.field(description="How many records (on a request).")


@strawberry.type(description="What is kept despite a deletion request, for how long and why.")
class KeptData:
    kind: str = strawberry.field(description="Stable code, e.g. `CLAIMS`.")
    name: str = strawberry.field(description="What it is, in Chinese.")
    reason: str = strawberry.field(description="The law or duty that requires keeping it.")
    retention: str = strawberry.field(description="For how long, in Chinese.")


@strawberry.type(description="What the retention job deletes, and after how long.")
class RetentionPeriod:
    kind: str = strawberry.field(description="Stable code, e.g. `OLD_NOTIFICATIONS`.")
    name: str = strawberry.field(description="What it is, in Chinese.")
    after_days: int = strawberry.field(description="Deleted this many days after it ends.")


@strawberry.type(description="The data rules: what deletion removes, what is kept and why.")
class DataRetentionRules:
    deleted: list[DeletedData] = strawberry.field(description="Deleted on request.")
    kept: list[KeptData] = strawberry.field(description="Kept, with the reason.")
    retention: list[RetentionPeriod] = strawberry.field(description="Deleted on schedule.")


def _kept(rows: list[dict[str, str]]) -> list[KeptData]:
    return [KeptData(**row) for row in rows]


@strawberry.type(description="My deletion request: what was deleted and what is kept, and why.")
class DataDeletionRequest(relay.Node):
    id: relay.NodeID[str]
    requested_at: datetime = strawberry.field(description="When it was carried out.")
    deleted: list[DeletedData] = strawberry.field(description="What was deleted, with counts.")
    kept: list[KeptData] = strawberry.field(description="What is kept, for how long and why.")

    @classmethod
    def from_model(cls, row: m.DataDeletionRequest) -> DataDeletionRequest:
        deleted = [
            DeletedData(kind=d.kind, name=d.name, how=d.how, count=row.deleted.get(d.kind, 0))
            for d in DELETED
        ]
        return cls(
            id=str(row.id), requested_at=row.created_at, deleted=deleted, kept=_kept(row.kept)
        )


async def marketing_consent_node(actor: Actor, object_id: uuid.UUID) -> MarketingConsent | None:
    row = await m.MarketingConsent.get_or_none(id=object_id, customer_id=actor.subject_id)
    return MarketingConsent.from_model(row) if row and actor.is_customer else None


async def data_export_node(actor: Actor, object_id: uuid.UUID) -> DataExport | None:
    if not actor.is_customer:
        return None
    row = await m.DataExport.get_or_none(id=object_id, customer_id=actor.subject_id)
    return DataExport.from_model(row) if row else None


async def deletion_request_node(actor: Actor, object_id: uuid.UUID) -> DataDeletionRequest | None:
    """The customer's own; auditors (AUDIT_READ) see every one (compliance evidence)."""
    row = await m.DataDeletionRequest.get_or_none(id=object_id)
    if row is None:
        return None
    mine = actor.is_customer and row.customer_id == actor.subject_id
    return DataDeletionRequest.from_model(row) if mine or actor.can(Permission.AUDIT_READ) else None


@strawberry.input(description="Give or withdraw marketing consent.")
class SetMarketingConsentInput:
    given: bool = strawberry.field(description="True to receive offers; false to withdraw.")


@strawberry.type(description="My marketing consent after the change.")
class SetMarketingConsentPayload:
    consent: MarketingConsent | None = strawberry.field(description="As saved.")
    errors: list[PrivacyError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="What to put in my data download.")
class RequestMyDataInput:
    include_documents: bool = strawberry.field(
        default=True, description="Also my claim photos and policy documents (default true)."
    )


@strawberry.type(description="My data download, ready to read through its link.")
class RequestMyDataPayload:
    export: DataExport | None = strawberry.field(description="The download; null when refused.")
    errors: list[PrivacyError_] = strawberry.field(
        description="EXPORT_LIMIT: one a day (with retryAfterSeconds); EXPORT_TOO_LARGE."
    )


@strawberry.input(description="Confirm the deletion of my deletable personal data.")
class RequestDataDeletionInput:
    confirm: bool = strawberry.field(
        description="Must be true: deletion cannot be undone (see `dataRetentionRules`)."
    )


@strawberry.type(description="What my deletion request deleted and what is kept, and why.")
class RequestDataDeletionPayload:
    request: DataDeletionRequest | None = strawberry.field(
        description="The request as carried out; null when refused."
    )
    consent: MarketingConsent | None = strawberry.field(
        description="Marketing consent after deletion: always null (withdrawn)."
    )
    errors: list[PrivacyError_] = strawberry.field(description="Empty on success.")


def _customer(info: Info) -> uuid.UUID:
    customer_id = info.context.actor.subject_id
    assert customer_id is not None  # CUSTOMER_ONLY
    return customer_id


@strawberry.type
class RightsQueries:
    @strawberry.field(
        description="My marketing consent; null: never given (no offers are sent).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_marketing_consent(self, info: Info) -> MarketingConsent | None:
        row = await m.MarketingConsent.get_or_none(customer_id=_customer(info))
        return MarketingConsent.from_model(row) if row else None

    @strawberry.field(
        description="My data downloads, newest first (at most 30).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_data_exports(self, info: Info) -> list[DataExport]:
        rows = (
            m.DataExport.filter(customer_id=_customer(info))
            .order_by("-created_at")
            .limit(MAX_EXPORTS_LISTED)
        )
        return [DataExport.from_model(row) for row in await rows]

    @strawberry.field(
        description="What a deletion request deletes, what is kept and why, and what is "
        "deleted on schedule.",
        permission_classes=[IsAuthenticated],
    )
    def data_retention_rules(self) -> DataRetentionRules:
        return DataRetentionRules(
            deleted=[DeletedData(kind=d.kind, name=d.name, how=d.how, count=None) for d in DELETED],
            kept=[
                KeptData(kind=k.kind, name=k.name, reason=k.reason, retention=k.retention)
                for k in KEPT
            ],
            retention=[
                RetentionPeriod(kind=r.kind, name=r.name, after_days=r.after.days)
                for r in RETENTION.values()
            ],
        )


@strawberry.type
class RightsMutations:
    @strawberry.mutation(
        description="Give or withdraw my marketing consent; offers (营销信息) reach only "
        "customers who gave it.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def set_marketing_consent(
        self,
        info: Info,
        input: Annotated[
            SetMarketingConsentInput,
            strawberry.argument(description="Whether I want to receive marketing offers."),
        ],
    ) -> SetMarketingConsentPayload:
        row = await rights.set_marketing_consent(_customer(info), input.given)
        return SetMarketingConsentPayload(consent=MarketingConsent.from_model(row), errors=[])

    @strawberry.mutation(
        description="Download my personal data: a ZIP of JSON and my files, read through "
        "a signed link until it expires. One a day.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_my_data(
        self,
        info: Info,
        input: Annotated[
            RequestMyDataInput,
            strawberry.argument(description="Whether my data download includes my files."),
        ],
    ) -> RequestMyDataPayload:
        services = info.context.services
        deps = rights.ExportDeps(
            services.storage, services.pii, services.settings.data_export_link_seconds
        )
        try:
            row = await rights.request_my_data(
                deps, _customer(info), documents=input.include_documents
            )
        except PrivacyError as error:
            return RequestMyDataPayload(export=None, errors=payload_errors(error, PrivacyError_))
        return RequestMyDataPayload(export=DataExport.from_model(row), errors=[])

    @strawberry.mutation(
        description="Delete my personal data that the law does not require to keep "
        "(marketing data, devices, notifications, conversation texts, survey comments); "
        "policies, claims and payments are kept for their retention period — the answer "
        "says what and why.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_data_deletion(
        self,
        info: Info,
        input: Annotated[
            RequestDataDeletionInput,
            strawberry.argument(description="My confirmation that the deletion may proceed."),
        ],
    ) -> RequestDataDeletionPayload:
        try:
            row = await rights.request_data_deletion(
                info.context.services.storage, _customer(info), confirm=input.confirm
            )
        except PrivacyError as error:
            return RequestDataDeletionPayload(
                request=None, consent=None, errors=payload_errors(error, PrivacyError_)
            )
        return RequestDataDeletionPayload(
            request=DataDeletionRequest.from_model(row), consent=None, errors=[]
        )

"""Personal-information rights: marketing consent (and offers respecting it), the
download of my data (content, one a day), deletion (what goes, what is kept and why),
and the retention job."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from api.services import Services
from models.claims import ClaimDocument, ClaimEvent, ClaimStatus
from models.conversations import (
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    MessageAuthor,
)
from models.notifications import Device, DevicePlatform, Notification
from models.policies import Policy
from models.privacy import DataExport, DataExportStatus, MarketingConsent, RetentionRun
from models.staff import StaffRole
from models.surveys import ServiceRating
from push.fanout import fan_out
from push.outbox import emit
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from workflows.privacy import retention
from workflows.privacy.rules import KEPT

CONSENT = """mutation($input: SetMarketingConsentInput!) { setMarketingConsent(input: $input) {
  consent { id given changedAt } errors { code } } }"""
MY_DATA = """mutation($input: RequestMyDataInput!) { requestMyData(input: $input) {
  export { id status sizeBytes expiresAt url } errors { code retryAfterSeconds } } }"""
DELETE = """mutation($input: RequestDataDeletionInput!) { requestDataDeletion(input: $input) {
  request { id deleted { kind count } kept { kind reason retention } }
  consent { given } errors { field code } } }"""
PHONE = "13712349901"


async def _offer(customer_id: uuid.UUID) -> Any:
    async with in_transaction():
        return await emit(
            "marketing.offer",
            entity_type="offer",
            entity_id="WINTER",
            customer_id=customer_id,
            payload={"headline": "冬季车险优惠", "text": "续保享九折", "offer_code": "WINTER"},
        )


async def test_offers_reach_only_customers_who_consented(
    client: httpx.AsyncClient, services: Services
) -> None:
    yes = await make_customer(services, name="同意")
    no = await make_customer(services, name="未同意")
    withdrawn = await make_customer(services, name="撤回")
    for customer, given in ((yes, True), (withdrawn, True), (withdrawn, False)):
        body = await gql(
            client,
            CONSENT,
            {"input": {"given": given}},
            token=await customer_token(services, customer),
        )
        assert body["data"]["setMarketingConsent"]["consent"]["given"] is given
    assert await MarketingConsent.filter(customer_id=withdrawn.id).count() == 1  # one row each
    events = [await _offer(c.id) for c in (yes, no, withdrawn)]
    results = await fan_out(events)
    assert results[0].notification is not None
    assert results[1].notification is None and results[2].notification is None
    assert {n.customer_id for n in await Notification.filter(kind="marketing.offer")} == {yes.id}
    mine = "{ myMarketingConsent { given } }"
    token = await customer_token(services, no)
    assert (await gql(client, mine, token=token))["data"]["myMarketingConsent"] is None


async def _stored_photo(services: Services, key: str, content: bytes) -> None:
    async def chunks() -> Any:
        yield content

    await services.storage.put(key, chunks(), "image/jpeg")


async def test_my_data_download_holds_my_data_and_files_and_is_once_a_day(
    client: httpx.AsyncClient, services: Services
) -> None:
    me = await make_customer(services, name="林芳", phone=PHONE)
    other = await make_customer(services, name="别人")
    policy = await make_policy(services, me)
    theirs = await make_policy(services, other)
    claim = await make_claim(me, policy, ClaimStatus.SUBMITTED, report_number="BA20261203777701")
    await make_claim(other, theirs, ClaimStatus.SUBMITTED, report_number="BA20261203777702")
    await _stored_photo(services, "claims/test/photo-1.jpg", b"\xff\xd8my-photo")
    await ClaimDocument.create(
        claim=claim,
        checklist_code="SCENE",
        storage_key="claims/test/photo-1.jpg",
        content_type="image/jpeg",
        size=10,
        sha256="a" * 64,
        original_sha256="a" * 64,
        file_name="scene.jpg",
        uploaded_by_kind="customer",
    )
    await MarketingConsent.create(customer_id=me.id, given=True, changed_at=datetime.now(UTC))
    token = await customer_token(services, me)

    body = await gql(client, MY_DATA, {"input": {}}, token=token)
    answer = body["data"]["requestMyData"]
    assert answer["errors"] == []
    export = answer["export"]
    assert export["status"] == "READY" and export["sizeBytes"] > 0 and export["url"]
    served = await client.get(export["url"])
    assert served.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(served.content))
    data = json.loads(archive.read("my-data.json"))
    assert data["profile"]["phone"] == PHONE and data["profile"]["name"] == "林芳"
    assert [p["number"] for p in data["policies"]] == [policy.number]
    assert [c["report_number"] for c in data["claims"]] == ["BA20261203777701"]
    assert data["marketingConsent"][0]["given"] is True
    text = json.dumps(data, ensure_ascii=False)
    assert "BA20261203777702" not in text and theirs.number not in text  # not someone else's
    assert "_encrypted" not in text and "_hash" not in text  # no sealed copies or hashes
    [photo] = [n for n in archive.namelist() if n.startswith("documents/claims/")]
    assert archive.read(photo) == b"\xff\xd8my-photo" and photo.endswith("scene.jpg")

    again = (await gql(client, MY_DATA, {"input": {}}, token=token))["data"]["requestMyData"]
    assert again["export"] is None and again["errors"][0]["code"] == "EXPORT_LIMIT"
    assert again["errors"][0]["retryAfterSeconds"] > 0
    listed = await gql(client, "{ myDataExports { id url } }", token=token)
    assert [e["id"] for e in listed["data"]["myDataExports"]] == [export["id"]]
    node = "query($id: ID!) { node(id: $id) { id } }"
    other_token = await customer_token(services, other)
    hidden = await gql(client, node, {"id": export["id"]}, token=other_token)
    assert hidden["data"]["node"] is None


async def test_deletion_removes_what_may_go_and_says_what_is_kept(
    client: httpx.AsyncClient, services: Services
) -> None:
    me = await make_customer(services, name="陈静")
    policy = await make_policy(services, me)
    await make_claim(me, policy, ClaimStatus.SUBMITTED, report_number="BA20261203888801")
    await MarketingConsent.create(customer_id=me.id, given=True, changed_at=datetime.now(UTC))
    await Device.create(customer=me, platform=DevicePlatform.IOS, token="a" * 64)
    await Notification.create(
        customer=me,
        event_id=uuid.uuid4(),
        kind="premium.due",
        title="t",
        body="b",
        deep_link="anxin://x",
        mini_program_page="pages/x",
    )
    conversation = await Conversation.create(
        customer=me, channel=ConversationChannel.APP, status=ConversationStatus.CLOSED
    )
    await ConversationMessage.create(
        conversation=conversation, seq=1, author=MessageAuthor.CUSTOMER, text="我的车牌是京A12345"
    )
    await ConversationMessage.create(
        conversation=conversation, seq=2, author=MessageAuthor.ASSISTANT, text="您好"
    )
    await ServiceRating.create(
        customer=me, subject_type="claim", subject_id="x", stars=2, comment="理赔员电话138…"
    )
    token = await customer_token(services, me)

    refused = await gql(client, DELETE, {"input": {"confirm": False}}, token=token)
    assert refused["data"]["requestDataDeletion"]["errors"] == [
        {"field": "confirm", "code": "CONFIRMATION_REQUIRED"}
    ]
    assert await Device.filter(customer_id=me.id).count() == 1

    body = (await gql(client, DELETE, {"input": {"confirm": True}}, token=token))["data"]
    answer = body["requestDataDeletion"]
    assert answer["errors"] == [] and answer["consent"] is None
    counts = {d["kind"]: d["count"] for d in answer["request"]["deleted"]}
    assert counts == {
        "MARKETING_CONSENT": 1,
        "DEVICES": 1,
        "NOTIFICATIONS": 1,
        "CONVERSATIONS": 1,
        "SURVEY_TEXT": 1,
        "DATA_EXPORTS": 0,
    }
    assert [k["kind"] for k in answer["request"]["kept"]] == [k.kind for k in KEPT]
    assert all(k["reason"] and k["retention"] for k in answer["request"]["kept"])
    assert await MarketingConsent.filter(customer_id=me.id).count() == 0
    assert await Device.filter(customer_id=me.id).count() == 0
    assert await Notification.filter(customer_id=me.id).count() == 0
    texts = await ConversationMessage.filter(conversation_id=conversation.id).order_by("seq")
    assert "京A12345" not in texts[0].text and texts[1].text == "您好"
    rating = await ServiceRating.get(customer_id=me.id)
    assert rating.comment == "" and rating.stars == 2  # the score stays for the figures
    assert await Policy.filter(id=policy.id).exists()  # kept: the law requires it
    rules = await gql(
        client, "{ dataRetentionRules { kept { kind } retention { kind afterDays } } }", token=token
    )
    assert {k["kind"] for k in rules["data"]["dataRetentionRules"]["kept"]} >= {
        "POLICIES",
        "CLAIMS",
    }


async def test_the_retention_job_deletes_what_expired_once_a_day(
    services: Services, db: str
) -> None:
    me = await make_customer(services, name="黄磊")
    policy = await make_policy(services, me)
    old = datetime.now(UTC) - timedelta(days=120)
    gone = await make_claim(me, policy, ClaimStatus.WITHDRAWN, report_number="BA20261203999901")
    kept = await make_claim(me, policy, ClaimStatus.SUBMITTED, report_number="BA20261203999902")
    recent = await make_claim(me, policy, ClaimStatus.WITHDRAWN, report_number="BA20261203999903")
    for claim, at in ((gone, old), (recent, datetime.now(UTC))):
        event = await ClaimEvent.create(
            claim=claim, actor_kind="customer", action="withdraw", to_status=ClaimStatus.WITHDRAWN
        )
        await ClaimEvent.filter(id=event.id).update(created_at=at)
    for i, claim in enumerate((gone, kept, recent)):
        key = f"claims/retention/photo-{i}.jpg"
        await _stored_photo(services, key, b"photo")
        await ClaimDocument.create(
            claim=claim,
            checklist_code="SCENE",
            storage_key=key,
            content_type="image/jpeg",
            size=5,
            sha256=f"{i}" * 64,
            original_sha256=f"{i}" * 64,
            file_name="p.jpg",
            uploaded_by_kind="customer",
        )
    await _stored_photo(services, "exports/x/old.zip", b"zip")
    expired = await DataExport.create(
        customer_id=me.id,
        day=(datetime.now(UTC) - timedelta(days=2)).date(),
        status=DataExportStatus.READY,
        storage_key="exports/x/old.zip",
        size_bytes=3,
        expires_at=datetime.now(UTC) - timedelta(hours=1),
    )
    for age in (400, 10):
        n = await Notification.create(
            customer=me,
            event_id=uuid.uuid4(),
            kind="premium.due",
            title="t",
            body="b",
            deep_link="anxin://x",
            mini_program_page="pages/x",
        )
        await Notification.filter(id=n.id).update(
            created_at=datetime.now(UTC) - timedelta(days=age)
        )

    run = await retention.daily_run(services.storage)
    assert run is not None and run.finished_at is not None
    assert run.counts == {
        "WITHDRAWN_CLAIM_UPLOADS": 1,
        "DATA_EXPORTS": 1,
        "OLD_NOTIFICATIONS": 1,
        "PII_ACCESS_LOG": 0,
    }
    left = {d.claim_id for d in await ClaimDocument.all()}
    assert left == {kept.id, recent.id}
    assert not await services.storage.exists("claims/retention/photo-0.jpg")
    assert await services.storage.exists("claims/retention/photo-1.jpg")
    assert (await DataExport.get(id=expired.id)).status is DataExportStatus.EXPIRED
    assert not await services.storage.exists("exports/x/old.zip")
    assert await Notification.filter(customer_id=me.id).count() == 1
    assert await retention.daily_run(services.storage) is None  # once a day
    assert await RetentionRun.all().count() == 1


async def test_auditors_read_the_retention_runs(
    client: httpx.AsyncClient, services: Services
) -> None:
    await retention.daily_run(services.storage)
    admin = await staff_token(services, await make_staff(StaffRole.ADMIN))
    query = (
        "{ retentionRuns { totalCount edges { node { day finishedAt counts { kind deleted } } } } }"
    )
    runs = (await gql(client, query, token=admin))["data"]["retentionRuns"]
    assert runs["totalCount"] == 1
    node = runs["edges"][0]["node"]
    assert node["finishedAt"] and {c["kind"] for c in node["counts"]} == {
        "WITHDRAWN_CLAIM_UPLOADS",
        "DATA_EXPORTS",
        "OLD_NOTIFICATIONS",
        "PII_ACCESS_LOG",
    }
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    refused = await gql(client, query, token=supervisor, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

"""Claim photos and documents over the GraphQL multipart request spec: stored without
EXIF, served only by signed links, bad uploads refused with nothing stored, and a photo
reused on another claim flagged for staff only."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from api.services import Services
from models.claims import Claim, ClaimDocument
from models.staff import StaffRole
from tests.claims_helpers import auto_policy, loss_input, upload
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from tests.storage.samples import ELF, heic, jpeg_with_gps, pdf, photo, png_header_only

REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id } errors { code } } }"""
DOCUMENTS = """query Documents($id: ID!) { claim(id: $id) { documents { fileName url } } }"""


def result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["uploadClaimDocuments"]


@pytest.fixture
async def reported(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    holder = await make_customer(services, "张伟")
    policy, _ = await auto_policy(services, holder)
    token = await customer_token(services, holder)
    body = await gql(client, REPORT, {"input": loss_input(policy)}, token=token)
    return {
        "token": token,
        "claim_id": body["data"]["reportLoss"]["claim"]["id"],
        "policy": policy,
        "holder": holder,
    }


async def stored_objects(services: Services) -> list[str]:
    root = services.settings.storage_root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def settings_overrides(tmp_path: Any) -> dict[str, Any]:
    return {
        "storage_root": tmp_path / "files",
        "upload_max_bytes": 3_000_000,
        "upload_max_pixels": 4_000_000,
    }


async def test_photos_are_stored_without_exif_and_served_by_signed_links(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    scene = jpeg_with_gps(photo(1))
    answer = result(
        await upload(
            client,
            reported["token"],
            reported["claim_id"],
            [
                ("D01", "现场照片.jpg", scene),
                ("D02", "驾驶证.pdf", pdf()),
            ],
        )
    )
    assert answer["errors"] == []
    documents = answer["claim"]["documents"]
    assert [d["checklistCode"] for d in documents] == ["D01", "D02"]
    assert documents[0]["contentType"] == "image/jpeg" and documents[0]["thumbnailUrl"]
    assert documents[1]["contentType"] == "application/pdf"
    assert "事故现场照片" not in answer["claim"]["missingDocuments"]
    assert "驾驶证" not in answer["claim"]["missingDocuments"]

    served = await client.get(documents[0]["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.content))
    assert not image.getexif() and "exif" not in image.info
    assert b"GPS" not in served.content and b"Canon" not in served.content
    thumbnail = await client.get(documents[0]["thumbnailUrl"])
    assert max(Image.open(io.BytesIO(thumbnail.content)).size) <= 320
    pdf_served = await client.get(documents[1]["url"])
    assert pdf_served.headers["content-disposition"].startswith("attachment")

    # The link is the only way in: no signature, or a tampered one, is refused.
    path = documents[0]["url"].split("?")[0]
    assert (await client.get(path)).status_code == 403
    assert (
        await client.get(documents[0]["url"].replace("signature=", "signature=0"))
    ).status_code == 403


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("virus.jpg", ELF, "UNSUPPORTED_TYPE"),
        ("empty.jpg", b"", "EMPTY_FILE"),
        ("huge.png", png_header_only(5000, 5000), "TOO_MANY_PIXELS"),
        ("big.jpg", b"\xff\xd8\xff" + bytes(3_100_000), "FILE_TOO_LARGE"),
        ("fake.pdf", b"%PDF-1.4\n no end", "NOT_A_PDF"),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    services: Services,
    reported: dict[str, Any],
    name: str,
    data: bytes,
    code: str,
) -> None:
    good = jpeg_with_gps(photo(2))
    answer = result(
        await upload(
            client,
            reported["token"],
            reported["claim_id"],
            [
                ("D01", "ok.jpg", good),
                ("D02", name, data),
            ],
        )
    )
    assert answer["claim"] is None
    assert answer["errors"][0]["code"] == code
    assert answer["errors"][0]["field"] == "files.1.file"
    assert await ClaimDocument.all().count() == 0
    assert await stored_objects(services) == []  # the good one was removed too


async def test_uploads_without_preflight_or_to_unknown_items_are_refused(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    refused = await upload(
        client,
        reported["token"],
        reported["claim_id"],
        [("D01", "a.jpg", jpeg_with_gps(photo(3)))],
        preflight=False,
    )
    assert refused.status_code == 400
    wrong_item = result(
        await upload(
            client,
            reported["token"],
            reported["claim_id"],
            [("D99", "a.jpg", jpeg_with_gps(photo(3)))],
        )
    )
    assert wrong_item["errors"][0] == {
        "field": "files.0.checklistCode",
        "message": "材料类型不在本案的材料清单中",
        "code": "INVALID_CHECKLIST_ITEM",
    }
    stranger = await customer_token(services, await make_customer(services))
    theirs = result(
        await upload(
            client, stranger, reported["claim_id"], [("D01", "a.jpg", jpeg_with_gps(photo(3)))]
        )
    )
    assert theirs["errors"][0]["code"] == "CLAIM_NOT_FOUND"
    assert await stored_objects(services) == []


async def test_a_reused_photo_flags_both_claims_for_staff_only(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    scene = photo(4)
    result(
        await upload(
            client,
            reported["token"],
            reported["claim_id"],
            [("D01", "scene.jpg", jpeg_with_gps(scene))],
        )
    )
    other_holder = await make_customer(services, "李四")
    other_policy, _ = await auto_policy(services, other_holder)
    other_token = await customer_token(services, other_holder)
    other = await gql(client, REPORT, {"input": loss_input(other_policy)}, token=other_token)
    other_id = other["data"]["reportLoss"]["claim"]["id"]
    # The same scene, smaller and recompressed: a perceptual match, not a byte match.
    resized = scene.resize((600, 450))
    buffer = io.BytesIO()
    resized.save(buffer, "JPEG", quality=60)
    result(await upload(client, other_token, other_id, [("D01", "mine.jpg", buffer.getvalue())]))

    flagged = await Claim.filter(fraud_flag=True).count()
    assert flagged == 2
    staff = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    query = "query($id: ID!) { claim(id: $id) { fraudFlag fraudSignals } }"
    seen = await gql(client, query, {"id": other_id}, token=staff)
    assert seen["data"]["claim"]["fraudFlag"] is True
    assert "相似" in seen["data"]["claim"]["fraudSignals"][0]
    hidden = await gql(client, query, {"id": other_id}, token=other_token, allow_errors=True)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    timeline = await gql(
        client,
        "query($id: ID!) { claim(id: $id) { timeline { note } } }",
        {"id": other_id},
        token=other_token,
    )
    assert "相似" not in str(timeline) and "相同" not in str(timeline)


async def test_a_heic_photo_is_named_as_the_jpeg_it_is_stored_as(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    """An iPhone's ``IMG_4032.HEIC`` is stored as JPEG: its name says ``.jpg`` in the
    API, in the stored row and in the download's Content-Disposition."""
    answer = result(
        await upload(
            client,
            reported["token"],
            reported["claim_id"],
            [("D01", "IMG_4032.HEIC", heic(photo(5, (640, 480))))],
        )
    )
    assert answer["errors"] == []
    document = answer["claim"]["documents"][0]
    assert document["contentType"] == "image/jpeg"
    assert document["fileName"] == "IMG_4032.jpg"
    assert (await ClaimDocument.get()).file_name == "IMG_4032.jpg"  # fixed at intake
    served = await client.get(document["url"])
    assert served.status_code == 200 and served.content.startswith(b"\xff\xd8\xff")
    assert 'filename="IMG_4032.jpg"' in served.headers["content-disposition"]


async def test_documents_stored_with_their_upload_name_are_served_with_the_right_one(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    """Rows written before names followed the stored type still say ``IMG_4032.HEIC``:
    the API's ``fileName``, the signed link and the download name it gives are corrected
    when served."""
    result(
        await upload(
            client,
            reported["token"],
            reported["claim_id"],
            [("D01", "x.jpg", jpeg_with_gps(photo(6)))],
        )
    )
    await ClaimDocument.all().update(file_name="IMG_4032.HEIC")  # as stored before the fix
    body = await gql(client, DOCUMENTS, {"id": reported["claim_id"]}, token=reported["token"])
    document = body["data"]["claim"]["documents"][0]
    assert document["fileName"] == "IMG_4032.jpg"
    served = await client.get(document["url"])
    assert served.status_code == 200
    assert 'filename="IMG_4032.jpg"' in served.headers["content-disposition"]

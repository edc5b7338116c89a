"""``POST /uploads/claim-documents``: claim files as ``wx.uploadFile`` sends them — one
file in the field ``file`` plus flat form fields, a Bearer token, no GraphQL multipart
``operations``/``map`` (which the mini-program cannot build). The same workflow as
``uploadClaimDocuments``: same access rules, limits and checks, typed JSON errors, and
nothing stored when refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api.memory import TrimWhenIdle
from api.services import Services
from models.claims import ClaimDocument
from models.staff import StaffRole
from tests.claims_helpers import auto_policy, loss_input
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from tests.security.test_claim_actions import Family, family, report_as_insured
from tests.storage.samples import ELF, heic, jpeg_with_gps, photo

__all__ = ["family"]  # the fixture, shared with the GraphQL upload tests

PATH = "/uploads/claim-documents"
REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id missingDocuments } errors { code } } }"""
DOCUMENTS = """query($id: ID!) { claim(id: $id) {
  missingDocuments documents { checklistCode fileName contentType url } } }"""
WITHDRAW = """mutation($id: ID!) {
  withdrawClaim(input: {claimId: $id, reason: "已私了"}) { errors { code } } }"""
MAX_BYTES = 300_000
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def settings_overrides(tmp_path: Any) -> dict[str, Any]:
    return {
        "storage_root": tmp_path / "files",
        "upload_max_bytes": MAX_BYTES,
        "limit_uploads_per_account": "5/1m",
    }


async def wx_upload_file(
    client: httpx.AsyncClient,
    token: str | None,
    form: dict[str, str],
    file: tuple[str, bytes, str] | None,
    **headers: str,
) -> httpx.Response:
    """What ``wx.uploadFile({url, filePath, name: 'file', formData, header})`` sends."""
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    # Without a file (a broken client) the body is still multipart, as wx.uploadFile's is.
    files = {"file": file} if file is not None else {"other": ("x.txt", b"x", "text/plain")}
    return await client.post(PATH, data=form, files=files, headers=headers)


def jpeg(seed: int) -> tuple[str, bytes, str]:
    """A photo as the mini-program has it: a temp file name, JPEG with GPS in its EXIF."""
    return (f"wxfile://tmp_{seed}.jpg", jpeg_with_gps(photo(seed, (800, 600))), "image/jpeg")


@pytest.fixture
async def reported(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    holder = await make_customer(services, "张伟")
    policy, _ = await auto_policy(services, holder)
    token = await customer_token(services, holder)
    body = await gql(client, REPORT, {"input": loss_input(policy)}, token=token)
    claim = body["data"]["reportLoss"]["claim"]
    return {"token": token, "claim_id": claim["id"], "missing": claim["missingDocuments"]}


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert len(body["errors"]) == 1, body
    return dict(body["errors"][0])


async def test_the_claimant_uploads_a_photo_as_wx_upload_file_sends_it(
    client: httpx.AsyncClient, reported: dict[str, Any]
) -> None:
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    response = await wx_upload_file(client, reported["token"], form, jpeg(1))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["errors"] == []
    assert answer["claim"]["id"] == reported["claim_id"]
    document = answer["document"]
    assert document["checklistCode"] == "D01" and document["contentType"] == "image/jpeg"
    assert document["fileName"] == "tmp_1.jpg"  # no path, as the GraphQL upload keeps it
    assert document["id"] and document["size"] > 0
    # The GraphQL API sees the same document, re-encoded (no EXIF), behind a signed link.
    body = await gql(client, DOCUMENTS, {"id": reported["claim_id"]}, token=reported["token"])
    claim = body["data"]["claim"]
    assert [d["checklistCode"] for d in claim["documents"]] == ["D01"]
    assert len(claim["missingDocuments"]) == len(reported["missing"]) - 1
    served = await client.get(claim["documents"][0]["url"])
    assert served.status_code == 200 and b"Exif" not in served.content[:200]


async def test_memory_is_handed_back_after_a_burst_of_uploads(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    """The decode gate's end of a burst trims glibc's heaps (api/memory.py, issue 19)."""
    calls: list[int] = []
    trim = TrimWhenIdle(release=lambda: calls.append(1))
    services.upload_gate.on_idle = trim
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    answers = await asyncio.gather(
        *(wx_upload_file(client, reported["token"], form, jpeg(seed)) for seed in range(3))
    )
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert trim.trimming is not None
    await trim.trimming
    assert 1 <= len(calls) <= 3  # once per time the gate went idle
    assert services.upload_gate.running == 0 and services.upload_gate.in_use == 0


async def test_an_iphone_heic_is_named_as_the_jpeg_it_is_stored_as(
    client: httpx.AsyncClient, reported: dict[str, Any]
) -> None:
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    photo_file = ("IMG_4032.HEIC", heic(photo(9, (640, 480))), "image/heic")
    response = await wx_upload_file(client, reported["token"], form, photo_file)
    assert response.status_code == 200, response.text
    document = response.json()["document"]
    assert (document["fileName"], document["contentType"]) == ("IMG_4032.jpg", "image/jpeg")


async def test_staff_with_claim_report_upload_for_the_customer(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    form = {"claimId": reported["claim_id"], "checklistCode": "D02"}
    response = await wx_upload_file(client, agent, form, jpeg(2))
    assert response.status_code == 200, response.text
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))  # no CLAIM_REPORT
    error = refused(await wx_upload_file(client, adjuster, form, jpeg(3)), 403)
    assert error["code"] == "NOT_ALLOWED"
    assert await ClaimDocument.all().count() == 1


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("holder", 403, "NOT_ALLOWED"),
        ("beneficiary", 404, "CLAIM_NOT_FOUND"),
        ("stranger", 404, "CLAIM_NOT_FOUND"),
    ],
)
async def test_only_the_claimant_uploads(
    client: httpx.AsyncClient, family: Family, role: str, status: int, code: str
) -> None:
    claim_id = await report_as_insured(client, family)
    form = {"claimId": claim_id, "checklistCode": "D01"}
    error = refused(await wx_upload_file(client, family.tokens[role], form, jpeg(4)), status)
    assert error["code"] == code
    assert await ClaimDocument.all().count() == 0


async def test_a_caller_without_a_valid_token_is_refused(
    client: httpx.AsyncClient, reported: dict[str, Any]
) -> None:
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    error = refused(await wx_upload_file(client, "forged", form, jpeg(5)), 401)
    assert error["code"] == "UNAUTHENTICATED"
    # A plain cross-site form (no Authorization, no preflight header) is stopped earlier.
    bare = await wx_upload_file(client, None, form, jpeg(5))
    assert bare.status_code == 400
    assert bare.json()["errors"][0]["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"
    assert await ClaimDocument.all().count() == 0


@pytest.mark.parametrize(
    ("claim", "checklist", "file", "status", "field", "code"),
    [
        ("none", "D01", jpeg(6), 404, "claimId", "CLAIM_NOT_FOUND"),
        ("bogus", "D01", jpeg(6), 404, "claimId", "CLAIM_NOT_FOUND"),
        ("own", "Z99", jpeg(6), 400, "checklistCode", "INVALID_CHECKLIST_ITEM"),
        ("own", None, jpeg(6), 400, "checklistCode", "INVALID_CHECKLIST_ITEM"),
        ("own", "D01", None, 400, "file", "REQUIRED"),
        ("own", "D01", ("a.jpg", ELF, "image/jpeg"), 400, "file", "UNSUPPORTED_TYPE"),
        ("own", "D01", ("a.jpg", b"", "image/jpeg"), 400, "file", "EMPTY_FILE"),
        (
            "own",
            "D01",
            ("big.png", PNG + bytes(MAX_BYTES), "image/png"),
            400,
            "file",
            "FILE_TOO_LARGE",
        ),
    ],
)
async def test_bad_uploads_get_typed_errors_and_store_nothing(
    client: httpx.AsyncClient,
    services: Services,
    reported: dict[str, Any],
    claim: str,
    checklist: str | None,
    file: tuple[str, bytes, str] | None,
    status: int,
    field: str | None,
    code: str,
) -> None:
    form = {"own": {"claimId": reported["claim_id"]}, "bogus": {"claimId": "x!"}, "none": {}}[claim]
    if checklist is not None:
        form["checklistCode"] = checklist
    error = refused(await wx_upload_file(client, reported["token"], form, file), status)
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]  # Chinese, for the user
    assert await ClaimDocument.all().count() == 0
    assert stored_files(services) == []


def stored_files(services: Services) -> list[str]:
    root = services.settings.storage_root
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_file_far_over_the_limit_is_cut_off_unread(
    client: httpx.AsyncClient, services: Services, reported: dict[str, Any]
) -> None:
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    huge = ("huge.png", PNG + bytes(3 * MAX_BYTES), "image/png")
    response = await wx_upload_file(client, reported["token"], form, huge)
    assert response.status_code == 413, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert stored_files(services) == []


async def test_one_file_per_request(client: httpx.AsyncClient, reported: dict[str, Any]) -> None:
    response = await client.post(
        PATH,
        data={"claimId": reported["claim_id"], "checklistCode": "D01"},
        files=[("file", jpeg(7)), ("file", jpeg(8))],
        headers={"authorization": f"Bearer {reported['token']}"},
    )
    assert refused(response, 400)["code"] == "BAD_REQUEST"
    assert await ClaimDocument.all().count() == 0


async def test_a_withdrawn_claim_takes_no_more_files(
    client: httpx.AsyncClient, reported: dict[str, Any]
) -> None:
    withdrawn = await gql(client, WITHDRAW, {"id": reported["claim_id"]}, token=reported["token"])
    assert withdrawn["data"]["withdrawClaim"]["errors"] == []
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    error = refused(await wx_upload_file(client, reported["token"], form, jpeg(9)), 409)
    assert error["code"] == "ILLEGAL_TRANSITION"


async def test_uploads_are_rate_limited_per_account(
    client: httpx.AsyncClient, reported: dict[str, Any]
) -> None:
    form = {"claimId": reported["claim_id"], "checklistCode": "D01"}
    for seed in range(5):
        response = await wx_upload_file(client, reported["token"], form, jpeg(10 + seed))
        assert response.status_code == 200, response.text
    throttled = await wx_upload_file(client, reported["token"], form, jpeg(20))
    error = refused(throttled, 429)
    assert error["code"] == "THROTTLED" and 0 < error["retryAfterSeconds"] <= 60
    assert throttled.headers["retry-after"] == str(error["retryAfterSeconds"])
    assert await ClaimDocument.all().count() == 5

"""``apollo-upload-client`` (``UploadHttpLink``) under Node against the gateway process: a
GraphQL multipart request with two claim photos through the README's Apollo client, which
sends the ``apollo-require-preflight`` header the CSRF guard requires; the same request
without it is refused, and Apollo hands the app the refusal as a GraphQL error it can
read (``CSRF_PREFLIGHT_REQUIRED``), with nothing attached.

A file over the size limit is cut off with 413 ``PAYLOAD_TOO_LARGE``, again as an error
Apollo hands over.

Found: the guard (and the size limit) refused with ``application/json`` whatever the
client accepted, and Apollo Client 4, which accepts ``application/graphql-response+json``,
reads a 4xx in plain JSON as a proxy's error page: the app got "Response not successful:
Received status code 400" (or 413) instead of the message and code. Refusals made before
GraphQL runs now answer in the media type the client asked for."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from api.services import Services
from models.auth import SubjectKind
from tests.api.gateway_process import needs_node_clients, node_script, running_gateway
from tests.claims_helpers import auto_policy, loss_input
from tests.factories import make_customer
from tests.security.test_csrf_content_type import MULTIPART, _multipart
from tests.storage.samples import jpeg_with_gps, photo
from workflows.auth import Channel, start_session

MAX_BYTES = 200_000  # per file; a multipart part may be twice that, and at least 1 MiB
TOO_LARGE = 1_200_000
APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9"
REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id missingDocuments } errors { code } } }"""


@needs_node_clients
async def test_apollo_upload_client_sends_photos_with_the_preflight_header(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    customer = await make_customer(services, "上传用户")
    policy, _ = await auto_policy(services, customer)
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
    session = {
        "accessToken": tokens.access_token,
        "accessTokenExpiresAt": tokens.access_expires_at.isoformat(),
        "refreshToken": tokens.refresh_token,
    }
    photos = []
    for seed in (11, 12):
        path = tmp_path / f"photo{seed}.jpg"
        path.write_bytes(jpeg_with_gps(photo(seed, (1024, 768))))
        photos.append(str(path))
    async with running_gateway(
        database_url, tmp_path, relay=False, upload_max_bytes=str(MAX_BYTES)
    ) as url:
        async with httpx.AsyncClient(timeout=10) as http:
            reported = await http.post(
                url,
                json={"query": REPORT, "variables": {"input": loss_input(policy)}},
                headers={"authorization": f"Bearer {tokens.access_token}"},
            )
        claim = reported.json()["data"]["reportLoss"]["claim"]
        async with node_script(
            "apollo-upload.mjs",
            ANXIN_GRAPHQL_URL=url,
            ANXIN_SESSION=json.dumps(session),
            ANXIN_CLAIM_ID=claim["id"],
            ANXIN_PHOTOS=json.dumps(photos),
            ANXIN_TOO_LARGE=str(TOO_LARGE),
        ) as script:
            assert script.process.stdout is not None
            report = json.loads(await script.process.stdout.readline())
            await script.process.wait()

    refused = report["withoutHeader"]
    assert refused["name"] == "CombinedGraphQLErrors", refused
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"
    assert error["message"] == "上传请求缺少 apollo-require-preflight 请求头"
    assert report["documentsBefore"] == []

    uploaded = report["uploaded"]
    assert uploaded.get("errors") == [], uploaded
    documents = uploaded["claim"]["documents"]
    assert [(d["checklistCode"], d["fileName"]) for d in documents] == [
        ("D01", "事故现场 1.jpg"),
        ("D02", "licence.jpg"),
    ]
    assert {(d["contentType"], d["width"], d["height"]) for d in documents} == {
        ("image/jpeg", 1024, 768)
    }
    assert len(uploaded["claim"]["missingDocuments"]) == len(claim["missingDocuments"]) - 2
    cached = report["cached"]["claim"]["documents"]
    assert [d["id"] for d in cached] == [d["id"] for d in documents]

    too_large = report["tooLarge"]
    assert too_large["name"] == "CombinedGraphQLErrors", too_large
    [error] = too_large["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("accept", "answered_as"),
    [
        (APOLLO_ACCEPT, "application/graphql-response+json; charset=utf-8"),
        (None, "application/json; charset=utf-8"),
        ("application/json", "application/json; charset=utf-8"),
    ],
)
async def test_a_refused_upload_answers_in_the_media_type_the_client_accepts(
    client: httpx.AsyncClient, accept: str | None, answered_as: str
) -> None:
    headers = {"content-type": MULTIPART} | ({"accept": accept} if accept else {})
    response = await client.post("/graphql", content=_multipart(), headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == answered_as
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"


async def test_a_body_too_large_answers_in_the_media_type_the_client_accepts(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"query": "' + b" " * 1_100_000 + b'{ me { permissions } }"}'
    for accept, answered_as in (
        (APOLLO_ACCEPT, "application/graphql-response+json; charset=utf-8"),
        ("application/json", "application/json; charset=utf-8"),
    ):
        response = await client.post(
            "/graphql",
            content=body,
            headers={"content-type": "application/json", "accept": accept},
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == answered_as
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

"""The README's mini-program module (``tests/clients/miniprogram/anxin.js``) against the
gateway process: ``wx.request`` for a query, ``wx.uploadFile`` for a photo (the plain
upload route: the mini-program cannot send a GraphQL multipart request) and
``wx.connectSocket`` for ``claimUpdated``, through a small Node stand-in for those three
``wx`` calls (``run.js``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from api.services import Services
from models.auth import SubjectKind
from tests.api.gateway_process import CLIENTS, needs_node_clients, node_script, running_gateway
from tests.claims_helpers import auto_policy, loss_input
from tests.factories import make_customer
from tests.storage.samples import jpeg_with_gps, photo
from workflows.auth import Channel, start_session

ROOT = Path(__file__).resolve().parents[2]
REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id status } errors { code } } }"""


def test_the_readme_shows_the_module_the_test_runs() -> None:
    module = (CLIENTS / "miniprogram" / "anxin.js").read_text()
    assert module in (ROOT / "README.md").read_text()


@needs_node_clients
async def test_the_mini_program_module_queries_uploads_and_subscribes(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    customer = await make_customer(services, "小程序用户")
    policy, _ = await auto_policy(services, customer)
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.MINI_PROGRAM)
    picture = tmp_path / "tmp_wx_photo.jpg"
    picture.write_bytes(jpeg_with_gps(photo(31, (800, 600))))
    async with running_gateway(database_url, tmp_path) as url:
        async with httpx.AsyncClient(timeout=10) as http:
            reported = await http.post(
                url,
                json={"query": REPORT, "variables": {"input": loss_input(policy)}},
                headers={"authorization": f"Bearer {tokens.access_token}"},
            )
        claim = reported.json()["data"]["reportLoss"]["claim"]
        async with node_script(
            "miniprogram/run.js",
            ANXIN_API=url.removesuffix("/graphql"),
            ANXIN_ACCESS_TOKEN=tokens.access_token,
            ANXIN_CLAIM_ID=claim["id"],
            ANXIN_PHOTO=str(picture),
        ) as script:
            assert script.process.stdout is not None
            report = json.loads(await script.process.stdout.readline())
            await script.process.wait()
    assert "failed" not in report, report
    assert report["query"]["data"]["claim"]["status"] == claim["status"]
    missing = report["query"]["data"]["claim"]["missingDocuments"]
    assert report["invalid"]["errors"][0]["message"]  # 400 under graphql-response+json
    assert report["upload"]["errors"] == []
    assert report["upload"]["document"]["checklistCode"] == "D01"
    assert report["upload"]["document"]["fileName"] == "tmp_wx_photo.jpg"
    assert [e["code"] for e in report["refused"]["errors"]] == ["INVALID_CHECKLIST_ITEM"]
    live = report["live"]["data"]["claimUpdated"]
    assert live["status"] == claim["status"]
    assert len(live["missingDocuments"]) == len(missing) - 1  # the photo counts

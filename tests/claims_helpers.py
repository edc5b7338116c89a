"""Shared set-up for claim tests: an auto policy with motor-insurance terms (the tests' own,
not the demo's), and uploads by the GraphQL multipart request spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from strawberry import relay

from api.services import Services
from models.customers import Customer
from models.policies import Coverage, Policy, Product, ProductKind
from tests.factories import make_policy


def _documents(*names: str) -> list[dict[str, object]]:
    """Checklist items D01, D02, …; a trailing ``?`` marks an optional one."""
    return [
        {"code": f"D{i + 1:02d}", "name": name.rstrip("?"), "required": not name.endswith("?")}
        for i, name in enumerate(names)
    ]


AUTO_LOSS_TYPES = [
    {
        "code": "COLLISION",
        "name": "碰撞事故",
        "documents": _documents("事故现场照片", "驾驶证", "行驶证", "交警事故认定书", "维修发票"),
    },
    {
        "code": "THEFT",
        "name": "全车盗抢",
        "documents": _documents("公安报案回执", "行驶证", "车辆钥匙照片", "购车发票?"),
    },
    {"code": "GLASS", "name": "玻璃单独破碎", "documents": _documents("破损照片", "维修发票")},
]


async def auto_product() -> Product:
    return await Product.create(
        code=f"AUTO-TEST-{datetime.now(UTC).timestamp()}",
        name="机动车商业保险（测试）",
        kind=ProductKind.AUTO,
        description="车辆损失、第三者责任、车上人员责任。",
        report_time_limit_hours=48,
        cooling_off_days=0,
        renewable=True,
        loss_types=AUTO_LOSS_TYPES,
    )


async def auto_policy(services: Services, holder: Customer) -> tuple[Policy, Coverage]:
    """An active auto policy: 100,000 cover with a 500 deductible, 1,000 already used."""
    policy = await make_policy(services, holder, product=await auto_product())
    coverage = await Coverage.get(policy_id=policy.id)
    return policy, coverage


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


def loss_input(policy: Policy, **overrides: Any) -> dict[str, Any]:
    values = {
        "policyId": gid("Policy", policy.id),
        "lossType": "COLLISION",
        "lossAt": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        "location": "上海市浦东新区世纪大道100号",
        "description": "倒车时与路边石墩发生碰撞，后保险杠受损",
        "channel": "APP",
        "contactName": "张伟",
        "contactPhone": "13800000001",
    }
    values.update(overrides)
    return values


UPLOAD = """mutation($input: UploadClaimDocumentsInput!) {
  uploadClaimDocuments(input: $input) {
    claim { id status missingDocuments
            documents { checklistCode fileName contentType url thumbnailUrl width height } }
    errors { field message code } } }"""


async def upload(
    client: httpx.AsyncClient,
    token: str,
    claim_id: str,
    files: list[tuple[str, str, bytes]],
    *,
    preflight: bool = True,
) -> httpx.Response:
    """A GraphQL multipart request: operations, map, then the files."""
    operations = {
        "query": UPLOAD,
        "variables": {
            "input": {
                "claimId": claim_id,
                "files": [{"checklistCode": code, "file": None} for code, _, _ in files],
            }
        },
    }
    mapping = {str(i): [f"variables.input.files.{i}.file"] for i in range(len(files))}
    headers = {"authorization": f"Bearer {token}"}
    if preflight:
        headers["apollo-require-preflight"] = "true"
    return await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files={str(i): (name, data) for i, (_, name, data) in enumerate(files)},
        headers=headers,
    )

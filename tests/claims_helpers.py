"""Shared set-up for claim tests: an auto policy with the real demo product terms, and
uploads by the GraphQL multipart request spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from strawberry import relay

from api.demo import PRODUCTS
from api.services import Services
from models.customers import Customer
from models.policies import Coverage, Policy, Product, ProductKind
from tests.factories import make_policy


async def auto_product() -> Product:
    spec = next(p for p in PRODUCTS if p["kind"] is ProductKind.AUTO)
    values = {k: v for k, v in spec.items() if k != "coverages"}
    values["code"] = f"{values['code']}-{datetime.now(UTC).timestamp()}"
    return await Product.create(**values)


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

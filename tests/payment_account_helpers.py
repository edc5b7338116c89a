"""What the payment-account and automatic-renewal tests share: the fake Alipay gateway
(our app key and its key), settings pointing the app at it, and the change itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from strawberry import relay

from models.policies import Policy
from tests.fakes.alipay import FakeAlipay
from tests.graphql import gql

APP_ID = "2021000000000042"
SELLER_ID = "2088101122136241"
CARD = "6225880137700010"  # a valid check digit

CHANGE = """mutation($input: RequestPolicyChangeInput!) { requestPolicyChange(input: $input) {
  endorsement { id number type status version timeline { action status note }
    paymentAccount { collectionBefore collectionAfter payoutBefore payoutAfter
      agreementStatus signUrl } }
  policy { id accountOnFile { collection payout autoRenewal } }
  errors { field code message } } }"""
ENDORSEMENT = """query($id: ID!) { node(id: $id) { ... on Endorsement { status version
  timeline { action } paymentAccount { agreementStatus signUrl } } } }"""
ON_FILE = """query($id: ID!) { node(id: $id) { ... on Policy {
  accountOnFile { collection payout autoRenewal } } } }"""
CANCEL = """mutation($input: CancelPolicyChangeInput!) { cancelPolicyChange(input: $input) {
  endorsement { status } errors { code } } }"""
AUTO = """mutation($input: SetAutoRenewalInput!) { setAutoRenewal(input: $input) {
  policy { id accountOnFile { autoRenewal } } errors { field code message } } }"""


@cache
def _key(name: str) -> rsa.RSAPrivateKey:
    del name
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@asynccontextmanager
async def running_fake_alipay() -> AsyncIterator[FakeAlipay]:
    fake = FakeAlipay(
        app_id=APP_ID,
        app_public_key_pem=public_pem(_key("app")),
        alipay_private_key_pem=private_pem(_key("alipay")),
        seller_id=SELLER_ID,
        payees={"zhangwei@example.cn": "张伟"},
    )
    async with fake.running() as running:
        yield running


def alipay_settings(fake_alipay: FakeAlipay) -> dict[str, Any]:
    return {
        "alipay_gateway_url": fake_alipay.gateway_url,
        "alipay_app_id": APP_ID,
        "alipay_seller_id": SELLER_ID,
        "alipay_app_private_key": private_pem(_key("app")),
        "alipay_public_key": public_pem(_key("alipay")),
    }


def gid(type_name: str, value: Any) -> str:
    return str(relay.GlobalID(type_name, str(value)))


async def change(
    client: httpx.AsyncClient, token: str, policy: Policy, key: str, account: dict[str, Any]
) -> dict[str, Any]:
    body = await gql(
        client,
        CHANGE,
        {
            "input": {
                "policyId": gid("Policy", policy.id),
                "idempotencyKey": key,
                "paymentAccount": account,
            }
        },
        token=token,
    )
    return body["data"]["requestPolicyChange"]


async def notify(
    client: httpx.AsyncClient, fake: FakeAlipay, params: dict[str, str]
) -> httpx.Response:
    return await fake.post_notification("/payments/alipay/agreements/notify", params, client)


async def agreement_on_file(
    client: httpx.AsyncClient, fake: FakeAlipay, token: str, policy: Policy, key: str
) -> str:
    """Sign an Alipay agreement for ``policy`` as the customer does; its agreement_no."""
    asked = await change(client, token, policy, key, {"collection": "ALIPAY"})
    signed = fake.sign_agreement(asked["endorsement"]["paymentAccount"]["signUrl"])
    answer = await notify(client, fake, fake.agreement_notification(signed.agreement_no))
    assert answer.text == "success"
    return signed.agreement_no

"""PII key rotation: every sealed value rewrapped to the current key, in batches,
resumable, while the API keeps answering with the values under either key."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from strawberry import relay
from tortoise.models import Model

from api.services import Services
from api.settings.security import DEV_PII_KEY, DEV_PII_KEY_BYTES
from models import MODEL_MODULES
from models.claims import Claim, ClaimStatus
from models.customers import Customer
from models.pii import PiiCipher
from models.policies import InsuredPerson
from models.privacy import PiiKeyRotation
from models.staff import StaffRole
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from tests.api.test_cli import ROOT, STORAGE_ROOT
from tests.factories import make_claim, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from workflows.privacy.rotation import TARGETS, rewrap_value, rotate, values_under_other_keys

NEW_KEY = base64.b64encode(b"anxin-test-rotated-pii-key-32byt").decode()
REVEAL = """mutation($input: RevealVisitPhoneInput!) { revealVisitPhone(input: $input) {
  phone errors { code } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The ring after a rotation began: k2 encrypts, k1 still decrypts."""
    return {"pii_keys": f"k2:{NEW_KEY},{DEV_PII_KEY}"}


def old_cipher(services: Services) -> PiiCipher:
    lookup = services.settings.lookup_key.get_secret_value().encode()
    return PiiCipher({"k1": DEV_PII_KEY_BYTES}, "k1", lookup)


def new_only(services: Services) -> PiiCipher:
    lookup = services.settings.lookup_key.get_secret_value().encode()
    return PiiCipher({"k2": base64.b64decode(NEW_KEY)}, "k2", lookup)


def test_every_sealed_column_is_a_rotation_target() -> None:
    """A new sealed column (``*_encrypted``, ``sealed_*``) must be rotated too."""
    named = {(t.model.__name__, t.column) for t in TARGETS}
    found = set()
    for module_name in MODEL_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, Model)):
                continue
            if value._meta.abstract or value.__module__ != module_name:
                continue
            for field in value._meta.fields_map:
                if field.endswith("_encrypted") or field.startswith("sealed"):
                    found.add((value.__name__, field))
    assert found <= named, found - named
    assert ("PolicyApplication", "beneficiaries") in named  # JSON with sealed values inside


def test_json_with_sealed_values_inside_is_walked(services: Services) -> None:
    old = old_cipher(services)
    row = {
        "name": "李四",
        "encrypted": old.seal_id_number("110101199001011234").encrypted,
        "nested": [{"id_encrypted": old.encrypt("13800000000", "phone")}],
        "masked": "110***1234",
    }
    text = json.dumps(row, ensure_ascii=False)
    new, changed = rewrap_value(services.pii, text)
    assert changed
    back = json.loads(new)
    assert back["encrypted"].startswith("k2:") and back["nested"][0]["id_encrypted"].startswith(
        "k2:"
    )
    assert services.pii.decrypt(back["encrypted"], "id_number") == "110101199001011234"
    assert back["masked"] == "110***1234" and back["name"] == "李四"
    assert rewrap_value(services.pii, new) == (new, False)  # done: nothing more to do
    assert rewrap_value(services.pii, "not:sealed") == ("not:sealed", False)


async def _world(services: Services, customers: int) -> list[tuple[FollowUpVisit, str]]:
    """Customers (phone, ID number), a policy each with an insured person, a claim with
    a contact phone, and a due phone visit, all sealed under the old key k1."""
    sealing = SimpleNamespace(pii=old_cipher(services), settings=services.settings)
    visits = []
    for i in range(customers):
        phone = f"1391234{i:04d}"
        customer = await make_customer(sealing, name=f"客户{i}", phone=phone)  # type: ignore[arg-type]
        policy = await make_policy(sealing, customer)  # type: ignore[arg-type]
        await make_claim(
            customer,
            policy,
            ClaimStatus.SUBMITTED,
            report_number=f"BA2026120300{i:04d}",
            contact_phone_encrypted=sealing.pii.seal_phone(phone).encrypted,
        )
        visit = await FollowUpVisit.create(
            customer=customer,
            trigger=VisitTrigger.POLICY_ANNIVERSARY,
            subject=f"policy:{policy.id}:2027",
            purpose="保单周年回访",
            policy=policy,
            channel=VisitChannel.PHONE,
            due_at=datetime.now(UTC),
            max_attempts=3,
            retry_after_days=2,
        )
        visits.append((visit, phone))
    return visits


async def test_rotation_while_the_api_answers(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Reveals run concurrently with a rotation in batches of 3: every answer is the
    right number, under whichever key the row is at that moment; afterwards nothing is
    under k1 and a ring without k1 reads everything."""
    visits = await _world(services, 12)
    assert await values_under_other_keys(services.pii) == 12 * 4  # phone, ID, insured, claim
    token = await staff_token(services, await make_staff(StaffRole.AGENT))

    async def reads() -> list[tuple[str, str]]:
        answers = []
        for _ in range(3):
            for visit, phone in visits:
                gid = str(relay.GlobalID("FollowUpVisit", str(visit.id)))
                body = await gql(
                    client,
                    REVEAL,
                    {"input": {"visitId": gid, "purpose": "电话回访客户"}},
                    token=token,
                )
                answers.append((body["data"]["revealVisitPhone"]["phone"], phone))
                await asyncio.sleep(0)
        return answers

    async def rotation() -> Any:
        report = await rotate(services.pii, batch_size=3)
        return report

    answers, report = await asyncio.gather(reads(), rotation())
    assert all(got == want for got, want in answers)
    admin = await staff_token(services, await make_staff(StaffRole.ADMIN))
    shown = await gql(
        client,
        "{ piiKeyRotations { edges { node {"
        " key column columnsDone columnsTotal rewrapped finishedAt } } } }",
        token=admin,
    )
    [rotation] = [e["node"] for e in shown["data"]["piiKeyRotations"]["edges"]]
    assert rotation["key"] == "k2" and rotation["finishedAt"] and rotation["column"] is None
    assert rotation["columnsDone"] == rotation["columnsTotal"] == len(TARGETS)
    assert rotation["rewrapped"] == 12 * 4
    assert report.finished and report.rewrapped == 12 * 4
    assert await values_under_other_keys(services.pii) == 0
    without_k1 = new_only(services)
    for customer in await Customer.all():
        assert without_k1.decrypt(customer.phone_encrypted, "phone").startswith("1391234")
    for person in await InsuredPerson.all():
        assert len(without_k1.decrypt(person.id_number_encrypted, "id_number")) == 18
    for claim in await Claim.all():
        assert without_k1.decrypt(claim.contact_phone_encrypted, "phone").startswith("1391234")


async def test_a_stopped_rotation_resumes_where_it_was(services: Services, db: str) -> None:
    await _world(services, 5)
    first = await rotate(services.pii, batch_size=2, max_batches=2)
    assert not first.finished and first.rewrapped == 4  # two batches of customers' phones
    state = await PiiKeyRotation.get(key_id="k2")
    assert state.target_index == 0 and state.last_id is not None and state.finished_at is None
    assert await values_under_other_keys(services.pii) == 20 - 4
    rest = await rotate(services.pii, batch_size=2)
    assert rest.finished and rest.rewrapped == 16
    assert await values_under_other_keys(services.pii) == 0
    again = await rotate(services.pii, batch_size=2)  # a check pass: nothing left to do
    assert again.finished and again.rewrapped == 0
    assert (await PiiKeyRotation.get(key_id="k2")).rewrapped == 20


async def test_the_cli_rotates_and_says_what_is_left(services: Services, database_url: str) -> None:
    """``anxin rotate-pii-key`` with the new key first in ANXIN_PII_KEYS."""
    await _world(services, 3)
    env = {"ANXIN_PII_KEYS": f"k2:{NEW_KEY},{DEV_PII_KEY}"}
    done = await asyncio.to_thread(
        anxin_with, database_url, env, "rotate-pii-key", "--batch-size", "2"
    )
    assert done.returncode == 0, done.stderr
    assert "key k2: 12 values rewrapped, 0 under other keys" in done.stdout
    assert await values_under_other_keys(services.pii) == 0


def anxin_with(
    database_url: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "ANXIN_DATABASE_URL": database_url,
            "ANXIN_ENV": "development",
            "ANXIN_STORAGE_ROOT": STORAGE_ROOT,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

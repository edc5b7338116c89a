"""A contact change (变更联系方式): the holder's phone, e-mail and postal address. A new
phone is verified by the SMS code the login flow sends to it (``requestLoginCode`` with
the new number, then the code here): it is also the phone the customer logs in with, so
it must be theirs and nobody else's. Effective at once; the endorsement shows the old and
new values masked, the new ones are sealed until applied.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from models.customers import Customer
from models.endorsements import CustomerAddress, Endorsement
from models.pii import PiiCipher, mask_email, mask_phone
from workflows.auth import AuthDeps, AuthError, verify_login_code
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode

PURPOSE = "endorsement"
ADDRESS_PURPOSE = "address"
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
EMAIL_LIMIT = 128
ADDRESS_LIMIT = 200


@dataclass(frozen=True)
class NewContact:
    """What the holder changes: any of the three; a phone with its SMS code."""

    phone: str | None = None
    sms_code: str | None = None
    email: str | None = None
    address: str | None = None


def mask_address(address: str) -> str:
    """The province/city part and no more: enough to recognise, not to find a door."""
    return address[:6] + "****" if len(address) > 6 else "****"


async def checked(services: AuthDeps, contact: NewContact) -> dict[str, str]:
    """The new values as they will be stored, or the first thing wrong with them. The
    phone's SMS code is consumed here (verified before anything is written)."""
    values: dict[str, str] = {}
    if contact.email is not None:
        email = contact.email.strip()
        if len(email) > EMAIL_LIMIT or not EMAIL.match(email):
            raise EndorsementError(
                EndorsementErrorCode.INVALID_EMAIL, "请填写正确的电子邮箱", "contact.email"
            )
        values["email"] = email
    if contact.address is not None:
        address = " ".join(contact.address.split())
        if not address:
            raise EndorsementError(
                EndorsementErrorCode.REQUIRED, "请填写联系地址", "contact.address"
            )
        if len(address) > ADDRESS_LIMIT:
            raise EndorsementError(
                EndorsementErrorCode.TOO_LONG,
                f"联系地址不能超过{ADDRESS_LIMIT}个字",
                "contact.address",
            )
        values["address"] = address
    if contact.phone is not None:
        if not contact.sms_code:
            raise EndorsementError(
                EndorsementErrorCode.SMS_CODE_INVALID,
                "请填写发送到新手机号的验证码",
                "contact.smsCode",
            )
        try:
            values["phone"] = await verify_login_code(services, contact.phone, contact.sms_code)
        except AuthError as error:
            field = "contact.phone" if error.field == "phone" else "contact.smsCode"
            raise EndorsementError(
                EndorsementErrorCode.SMS_CODE_INVALID,
                error.message,
                field,
                retry_after=error.retry_after,
            ) from None
    if not values:
        raise EndorsementError(EndorsementErrorCode.REQUIRED, "请填写要变更的联系方式", "contact")
    return values


async def before_values(customer_id: uuid.UUID, values: dict[str, str]) -> dict[str, Any]:
    customer = await Customer.get(id=customer_id)
    address = await CustomerAddress.get_or_none(customer_id=customer_id)
    shown = {
        "phone": customer.phone_masked,
        "email": customer.email_masked,
        "address": address.address_masked if address else None,
    }
    return {key: shown[key] for key in values}


def after_values(values: dict[str, str]) -> dict[str, Any]:
    masks = {"phone": mask_phone, "email": mask_email, "address": mask_address}
    return {key: masks[key](value) for key, value in values.items()}


def seal(pii: PiiCipher, values: dict[str, str]) -> str:
    return pii.encrypt(json.dumps(values, ensure_ascii=False), PURPOSE)


async def apply(pii: PiiCipher, endorsement: Endorsement) -> None:
    """Write the new contact details on the holder (in the caller's transaction)."""
    assert endorsement.sealed_after is not None
    values: dict[str, str] = json.loads(pii.decrypt(endorsement.sealed_after, PURPOSE))
    customer_id = endorsement.requested_by_id
    updates: dict[str, Any] = {}
    if "phone" in values:
        sealed = pii.seal_phone(values["phone"])
        taken = await Customer.filter(phone_hash=sealed.lookup_hash).exclude(id=customer_id)
        if taken:
            raise _phone_taken()
        updates |= {
            "phone_encrypted": sealed.encrypted,
            "phone_hash": sealed.lookup_hash,
            "phone_masked": sealed.masked,
        }
    if "email" in values:
        sealed = pii.seal_email(values["email"])
        updates |= {"email_encrypted": sealed.encrypted, "email_masked": sealed.masked}
    if updates:
        try:
            await Customer.filter(id=customer_id).update(**updates)
        except IntegrityError:
            raise _phone_taken() from None
    if "address" in values:
        sealed_address = pii.encrypt(values["address"], ADDRESS_PURPOSE)
        masked = mask_address(values["address"])
        changed = await CustomerAddress.filter(customer_id=customer_id).update(
            address_encrypted=sealed_address, address_masked=masked
        )
        if not changed:
            await CustomerAddress.create(
                customer_id=customer_id, address_encrypted=sealed_address, address_masked=masked
            )


def _phone_taken() -> EndorsementError:
    return EndorsementError(
        EndorsementErrorCode.PHONE_TAKEN, "该手机号已被其他账户使用", "contact.phone"
    )
